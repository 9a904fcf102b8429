"""bench/imaging: ingest rate through our STOW-RS on each backend vs Orthanc's own POST /instances,
then QIDO, worklist, metadata and rendered-frame latencies over HTTP.

    .venv/bin/python -m bench.imaging --instances 600
    .venv/bin/python -m bench.imaging --engine postgresql --instances 600

Synthetic studies are made from the shared test files with fresh UIDs (``copy.deepcopy`` then new
Study/Series/SOP Instance UIDs, patient data varied per study), so every run ingests new
instances of realistic size and shape. The server runs in this process (uvicorn on loopback);
Orthanc is a private one started like the test suite's (tests/utils/orthanc.py).
Results are printed and written to bench/results/imaging-<time>.json.
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import tempfile
import threading
import time
import uuid
from io import BytesIO
from pathlib import Path

import httpx
import pydicom
import uvicorn
from fastapi import FastAPI
from pydicom.uid import generate_uid

from bench.synthetic import SHARED
from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.engine import bare_engine, make_engine
from ehr_core.storage.migrate import upgrade

TEMPLATES = [SHARED / "dicom" / "ct" / "CT_small.dcm", SHARED / "dicom" / "mr" / "MR_small.dcm"]
PER_STUDY = 40          # instances per synthetic study, in 2 series
PER_REQUEST = 20        # instances per STOW request
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def personal_code(n: int) -> str:
    """A valid legacy personal code for synthetic patient ``n`` (born 1950-1999)."""
    from adapters.national.personal_code import check_digit, format as show
    digits = f"{1 + n % 28:02d}{1 + n // 28 % 12:02d}{50 + n // 336 % 50:02d}1{n % 1000:03d}"
    return show(digits + str(check_digit(digits)))


def synthetic(count: int) -> list[bytes]:
    templates = [pydicom.dcmread(p) for p in TEMPLATES]
    out: list[bytes] = []
    study_no = 0
    while len(out) < count:
        base = templates[study_no % len(templates)]
        study, series = generate_uid(), [generate_uid(), generate_uid()]
        for i in range(min(PER_STUDY, count - len(out))):
            ds = copy.deepcopy(base)
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series[i % 2]
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.PatientID, ds.PatientName = personal_code(study_no), f"Bench^Patient{study_no:05d}"
            ds.PatientBirthDate, ds.PatientSex = "", ""
            ds.StudyDate = f"20{10 + study_no % 15:02d}{1 + study_no % 12:02d}{1 + study_no % 28:02d}"
            ds.AccessionNumber = f"A{study_no:07d}"
            ds.InstanceNumber = i + 1
            buf = BytesIO()
            ds.save_as(buf, enforce_file_format=True)
            out.append(buf.getvalue())
        study_no += 1
    return out


def multipart(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n" for p in parts)
    return body + f"--{boundary}--\r\n".encode(), f'multipart/related; type="application/dicom"; boundary={boundary}'


def percentiles(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(ms[int(len(ms) * 0.95) - 1], 2), "n": len(ms)}


def timed(fn, repeat: int) -> list[float]:  # noqa: ANN001
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


class Server:
    """Our service with one backend, served by uvicorn on a free loopback port."""

    def __init__(self, url: str, backend: str, workdir: Path, orthanc_url: str | None):
        from imaging.api import router
        from imaging.archive import Archive
        from imaging.backends import make_backend
        from imaging.settings import ImagingSettings
        from tests.utils.orthanc import free_port

        engine = make_engine(url)
        upgrade(engine)
        self.service = Service.from_settings(Settings(database_url=url, demo_data=False, data_dir=workdir),
                                             engine=engine)
        settings = ImagingSettings.from_core(self.service.settings, backend=backend, store_dir=workdir / "store",
                                             orthanc_url=orthanc_url or "")
        self.archive = Archive(self.service, settings, make_backend(settings))
        from ehr_core.auth.api import router as auth_router
        app = FastAPI()
        app.include_router(router(self.service, self.archive))
        app.include_router(auth_router(self.service))
        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        # A hospital's system stores the studies and reads what it submitted (imaging/access.py).
        from tests.utils.auth import Client
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=120) as root:
            token = Client(self.service, "40003000001", "hospital", "Bench Hospital").token(root)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}/dicomweb", timeout=120,
                                 headers={"Authorization": f"Bearer {token}"})

    def stop(self) -> None:
        self.http.close()
        self.server.should_exit = True
        self.thread.join(10)
        self.archive.close()
        self.service.engine.dispose()


def add_patients(server: Server, count: int) -> None:
    """The cards the synthetic studies link to (one per study), written as a trusted internal caller."""
    from ehr_core.rest.messages import FhirRequest
    from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
    for n in range(count // PER_STUDY + 1):
        body = {"resourceType": "Patient", "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": personal_code(n)}],
                "name": [{"family": "Bench", "given": [f"Patient{n:05d}"]}]}
        assert server.service.handler.handle(FhirRequest("POST", "Patient", body=body)).status == 201


def bench_ours(server: Server, data: list[bytes]) -> dict:
    t = time.perf_counter()
    for i in range(0, len(data), PER_REQUEST):
        body, ctype = multipart(data[i:i + PER_REQUEST])
        resp = server.http.post("/studies", content=body, headers={"Content-Type": ctype})
        assert resp.status_code == 200, resp.text[:500]
    elapsed = time.perf_counter() - t
    from sqlalchemy import func, select

    from imaging.schema import imaging_study
    with server.archive.reading() as conn:
        linked = conn.execute(select(func.count()).where(imaging_study.c.link_state == "linked")).scalar()
    return {"instances": len(data), "seconds": round(elapsed, 2), "instances_per_s": round(len(data) / elapsed, 1),
            "studies_linked": linked}


def bench_orthanc_native(orthanc_url: str, data: list[bytes]) -> dict:
    with httpx.Client(base_url=orthanc_url, timeout=120) as http:
        t = time.perf_counter()
        for d in data:
            resp = http.post("/instances", content=d, headers={"Content-Type": "application/dicom"})
            assert resp.status_code == 200, resp.text[:300]
        elapsed = time.perf_counter() - t
    return {"instances": len(data), "seconds": round(elapsed, 2), "instances_per_s": round(len(data) / elapsed, 1)}


def bench_reads(server: Server, repeat: int) -> dict:
    http = server.http
    studies = http.get("/studies", params={"limit": 1000}).json()
    uid = studies[len(studies) // 2]["0020000D"]["Value"][0]
    instance = http.get(f"/studies/{uid}/instances", params={"limit": 1}).json()[0]
    series_uid, sop = instance["0020000E"]["Value"][0], instance["00080018"]["Value"][0]
    queries = {
        "qido_patient_name_wildcard": {"PatientName": "bench^patient0001*"},
        "qido_study_date_range": {"StudyDate": "20150101-20181231"},
        "qido_modality_and_id": {"ModalitiesInStudy": "CT", "PatientID": personal_code(2)},
        "qido_accession": {"AccessionNumber": "A0000003"},
    }
    out = {name: percentiles(timed(lambda p=params: http.get("/studies", params=p).raise_for_status(), repeat))
           for name, params in queries.items()}
    out["worklist_page"] = percentiles(timed(
        lambda: http.get("/studies", params={"limit": 50, "offset": 0,
                                             "includefield": "StudyDescription"}).raise_for_status(), repeat))
    out["study_metadata"] = percentiles(timed(lambda: http.get(f"/studies/{uid}/metadata").raise_for_status(), repeat))
    out["rendered_frame"] = percentiles(timed(
        lambda: http.get(f"/studies/{uid}/series/{series_uid}/instances/{sop}/rendered").raise_for_status(), repeat))
    return out


def main() -> None:
    from tests.utils.orthanc import OrthancServer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--instances", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    results: dict = {"engine": args.engine, "instances": args.instances, "per_request": PER_REQUEST}
    with tempfile.TemporaryDirectory() as tmp, OrthancServer(Path(tmp) / "orthanc") as orthanc:
        results["orthanc_post_instances"] = bench_orthanc_native(orthanc.url, synthetic(args.instances))
        for backend in ("local", "orthanc"):
            url, drop = _database(args.engine, Path(tmp) / backend)
            server = Server(url, backend, Path(tmp) / backend, orthanc.url)
            try:
                add_patients(server, args.instances)
                results[f"stow_{backend}"] = bench_ours(server, synthetic(args.instances))
                results[f"reads_{backend}"] = bench_reads(server, args.repeat)
            finally:
                server.stop()
                drop()
    print(json.dumps(results, indent=2))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"imaging-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(results, indent=2))


def _database(engine: str, workdir: Path):  # noqa: ANN202
    workdir.mkdir(parents=True, exist_ok=True)
    if engine == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", lambda: None
    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    name = f"evk_bench_imaging_{uuid.uuid4().hex[:8]}"
    admin = bare_engine(PG_ADMIN)
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False), drop


if __name__ == "__main__":
    main()
