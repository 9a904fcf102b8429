"""bench/imaging: our imaging index beside Orthanc, at a given size, in one run.

    .venv/bin/python -m bench.imaging --instances 10000
    .venv/bin/python -m bench.imaging --instances 100000 --engine postgresql --backends local

Measured side by side:
- ingest, instances/s: our STOW-RS (``PER_REQUEST`` instances per request) with each backend
  (embedded store, Orthanc), and Orthanc's own ``POST /instances`` (one instance per request,
  as its clients send them);
- reads, p50/p95 over HTTP, ours and Orthanc's DICOMweb plugin on the same data: QIDO by
  patient (PatientID), a worklist page of 100 studies, study metadata (first request, when our
  header cache is cold, and again), a full-resolution rendered CT frame;
- index bytes per instance: our three imaging tables with their indexes (SQLite dbstat or
  PostgreSQL relation sizes); Orthanc's SQLite index file.

Synthetic studies come from the shared CT and MR test files: each instance gets fresh Study /
Series / SOP Instance UIDs and per-study patient data (a valid personal code, so the studies link
to the patients added first). They are generated per request and never all held in memory; the
generation time is not counted, only the time of the requests. Our service runs as ``evk serve``
(one worker, a subprocess, so the client does not share its interpreter); Orthanc is a private
one (tests/utils/orthanc.py) per backend, so the two Orthanc figures do not share an index.
Results are printed and written to bench/results/imaging-<size>-<engine>-<time>.json with the
load average before and after.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from io import BytesIO
from pathlib import Path

import httpx
import pydicom
from pydicom.uid import generate_uid

from bench.server import evk_server
from bench.synthetic import SHARED

TEMPLATES = [SHARED / "dicom" / "ct" / "CT_small.dcm", SHARED / "dicom" / "mr" / "MR_small.dcm"]
PER_STUDY = 40          # instances per synthetic study, in 2 series
PER_REQUEST = 20        # instances per STOW request
WORKLIST = 100          # studies on a worklist page
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
IMAGING_TABLES = ("imaging_study", "imaging_series", "imaging_instance")


def personal_code(n: int) -> str:
    """A valid legacy personal code for synthetic patient ``n`` (born 1950-1999)."""
    from adapters.national.personal_code import check_digit, format as show
    digits = f"{1 + n % 28:02d}{1 + n // 28 % 12:02d}{50 + n // 336 % 50:02d}1{n % 1000:03d}"
    return show(digits + str(check_digit(digits)))


def synthetic(count: int, batch: int, salt: str) -> Iterator[list[bytes]]:
    """``count`` instances in lists of ``batch``; study ``n`` belongs to patient ``n`` (its CT or MR
    template alternates). Templates are changed in place and written at once: no copies."""
    templates = [pydicom.dcmread(p) for p in TEMPLATES]
    out: list[bytes] = []
    for i in range(count):
        study_no, k = divmod(i, PER_STUDY)
        ds = templates[study_no % len(templates)]
        if k == 0:
            study, series = generate_uid(), [generate_uid(), generate_uid()]
            ds.StudyInstanceUID = study
            ds.PatientID, ds.PatientName = personal_code(study_no), f"Bench^Patient{study_no:06d}"
            ds.PatientBirthDate, ds.PatientSex = "", ""
            ds.StudyDate = f"20{10 + study_no % 15:02d}{1 + study_no % 12:02d}{1 + study_no % 28:02d}"
            ds.AccessionNumber = f"{salt}{study_no:07d}"
        ds.SeriesInstanceUID = series[k % 2]
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = k + 1
        buf = BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        out.append(buf.getvalue())
        if len(out) == batch:
            yield out
            out = []
    if out:
        yield out


def multipart(parts: list[bytes]) -> tuple[bytes, str]:
    boundary = uuid.uuid4().hex
    body = b"".join(f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode() + p + b"\r\n" for p in parts)
    return body + f"--{boundary}--\r\n".encode(), f'multipart/related; type="application/dicom"; boundary={boundary}'


def percentiles(samples: list[float]) -> dict:
    ms = sorted(s * 1000 for s in samples)
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(ms[max(0, int(len(ms) * 0.95) - 1)], 2),
            "n": len(ms)}


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def rate(count: int, seconds: float) -> dict:
    return {"instances": count, "seconds": round(seconds, 2), "instances_per_s": round(count / seconds, 1)}


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- ingest -----------------------------------------------------------------------------------
def ingest_stow(http: httpx.Client, count: int, salt: str) -> dict:
    busy = 0.0
    for parts in synthetic(count, PER_REQUEST, salt):
        body, ctype = multipart(parts)
        t = time.perf_counter()
        resp = http.post("/studies", content=body, headers={"Content-Type": ctype})
        busy += time.perf_counter() - t
        assert resp.status_code == 200, resp.text[:500]
    return rate(count, busy)


def ingest_orthanc(http: httpx.Client, count: int, salt: str) -> dict:
    busy = 0.0
    for parts in synthetic(count, PER_REQUEST, salt):
        t = time.perf_counter()
        for d in parts:
            resp = http.post("/instances", content=d, headers={"Content-Type": "application/dicom"})
            assert resp.status_code == 200, resp.text[:300]
        busy += time.perf_counter() - t
    return rate(count, busy)


# --- reads (the same calls against our /dicomweb and Orthanc's /dicom-web) ---------------------
def reads(http: httpx.Client, count: int, repeat: int) -> dict:
    studies = count // PER_STUDY
    picks = [studies * j // repeat for j in range(repeat)]          # spread over the whole index

    def qido_patient(j: int) -> None:
        found = http.get("/studies", params={"PatientID": personal_code(picks[j % len(picks)])})
        found.raise_for_status()
        assert len(found.json()) == 1, found.text[:300]

    def study_uid(n: int) -> str:
        return http.get("/studies", params={"PatientID": personal_code(n)}).json()[0]["0020000D"]["Value"][0]

    out = {"qido_by_patient": percentiles(timed(_cycle(qido_patient), repeat))}
    out["worklist_100_studies"] = percentiles(timed(lambda: _ok(http.get("/studies", params={"limit": WORKLIST})),
                                                    max(10, repeat // 5)))
    uids = [study_uid(n) for n in picks]
    cold = [timed(lambda u=u: _ok(http.get(f"/studies/{u}/metadata")), 1)[0] for u in uids]
    out["study_metadata_first"] = percentiles(cold)
    out["study_metadata_again"] = percentiles(timed(lambda: _ok(http.get(f"/studies/{uids[0]}/metadata")), repeat))
    ct = uids[0]                                           # study 0 is made from the CT template
    inst = http.get(f"/studies/{ct}/instances", params={"limit": 1}).json()[0]
    frame = f"/studies/{ct}/series/{inst['0020000E']['Value'][0]}/instances/{inst['00080018']['Value'][0]}" \
            "/frames/1/rendered"
    out["rendered_ct_frame"] = percentiles(timed(lambda: _ok(http.get(frame, headers={"Accept": "image/jpeg"})),
                                                 repeat))
    return out


def _cycle(fn: Callable[[int], None]) -> Callable[[], None]:
    counter = iter(range(10**9))
    return lambda: fn(next(counter))


def _ok(resp: httpx.Response) -> None:
    resp.raise_for_status()


# --- sizes ------------------------------------------------------------------------------------
def index_bytes(url: str, count: int) -> dict:
    from sqlalchemy import create_engine, text
    engine = create_engine(url, isolation_level="AUTOCOMMIT")     # VACUUM runs outside a transaction
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            tables = ", ".join(f"'{t}'" for t in IMAGING_TABLES)
            names = [r[0] for r in conn.execute(text(f"SELECT name FROM sqlite_master WHERE tbl_name IN ({tables})"))]
            total = conn.execute(text("SELECT SUM(pgsize) FROM dbstat WHERE name IN ("
                                      + ", ".join(f"'{n}'" for n in names) + ")")).scalar()
        else:
            conn.execute(text("VACUUM ANALYZE imaging_instance"))
            total = sum(conn.execute(text(f"SELECT pg_total_relation_size('{t}')")).scalar() for t in IMAGING_TABLES)
    engine.dispose()
    return {"bytes": int(total), "bytes_per_instance": round(total / count, 1)}


def orthanc_index_bytes(workdir: Path, count: int) -> dict:
    total = sum(p.stat().st_size for p in (workdir / "index").rglob("*") if p.is_file())
    return {"bytes": total, "bytes_per_instance": round(total / count, 1)}


# --- our service ----------------------------------------------------------------------------
def prepare(url: str, count: int, base_url: str):  # noqa: ANN201 - tests.utils.auth.Client
    """Schema, the patients' cards and a hospital's client (which stores and reads), on the bench database."""
    from ehr_core.rest.messages import FhirRequest
    from ehr_core.service import Service
    from ehr_core.settings import Settings
    from ehr_core.storage.engine import make_engine
    from ehr_core.storage.migrate import upgrade
    from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
    from tests.utils.auth import Client

    engine = make_engine(url)
    upgrade(engine)
    service = Service.from_settings(Settings(database_url=url, demo_data=False, base_url=base_url), engine=engine)
    for n in range(-(-count // PER_STUDY)):
        body = {"resourceType": "Patient", "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": personal_code(n)}],
                "name": [{"family": "Bench", "given": [f"Patient{n:06d}"]}]}
        assert service.handler.handle(FhirRequest("POST", "Patient", body=body)).status == 201
    client = Client(service, "40003000001", "hospital", "Bench Hospital")
    engine.dispose()
    return client


def run_ours(engine_kind: str, backend: str, count: int, repeat: int, workdir: Path, orthanc_url: str) -> dict:
    from tests.utils.orthanc import free_port
    url, drop = _database(engine_kind, workdir)
    try:
        port = free_port()
        client = prepare(url, count, f"http://127.0.0.1:{port}")
        os.environ.update(EVK_IMAGING_BACKEND=backend, EVK_ORTHANC_URL=orthanc_url, EVK_DATA_DIR=str(workdir),
                          EVK_IMAGING_STORE_DIR=str(workdir / "store"))
        with evk_server(url, port), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=300) as root:
            token = client.token(root)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/dicomweb", timeout=300,
                              headers={"Authorization": f"Bearer {token}"}) as http:
                out = {"load_before": load(), "ingest": ingest_stow(http, count, backend[0].upper())}
                out["load_after_ingest"] = load()
                out["reads"] = reads(http, count, repeat)
        out["index"] = index_bytes(url, count)
        return out
    finally:
        drop()


def run_orthanc(count: int, repeat: int, workdir: Path) -> dict:
    from tests.utils.orthanc import OrthancServer
    with OrthancServer(workdir) as orthanc, httpx.Client(base_url=orthanc.url, timeout=300) as http:
        out = {"load_before": load(), "ingest": ingest_orthanc(http, count, "O")}
        out["load_after_ingest"] = load()
        with httpx.Client(base_url=orthanc.url + "/dicom-web", timeout=300) as web:
            out["reads"] = reads(web, count, repeat)
        out["index"] = orthanc_index_bytes(workdir, count)
    return out


def main() -> None:
    from tests.utils.orthanc import OrthancServer

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=10_000, help="instances per backend (10000, 100000)")
    ap.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    ap.add_argument("--backends", default="local,orthanc", help="ours to run: local, orthanc or both")
    ap.add_argument("--no-orthanc-native", action="store_true", help="skip Orthanc's own POST /instances")
    ap.add_argument("--repeat", type=int, default=100, help="samples per read figure")
    args = ap.parse_args()
    results: dict = {"engine": args.engine, "instances": args.instances, "per_request": PER_REQUEST,
                     "cpus": os.cpu_count(), "load_start": load()}
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_orthanc_native:
            results["orthanc_native"] = run_orthanc(args.instances, args.repeat, Path(tmp) / "orthanc-native")
            _show(results)
        for backend in args.backends.split(","):
            with OrthancServer(Path(tmp) / f"orthanc-{backend}") if backend == "orthanc" else _nothing() as orthanc:
                results[f"ours_{backend}"] = run_ours(args.engine, backend, args.instances, args.repeat,
                                                      Path(tmp) / backend, orthanc.url if orthanc else "")
            _show(results)
    results["load_end"] = load()
    print(json.dumps(results, indent=2))
    out = Path(__file__).parent / "results"
    out.mkdir(exist_ok=True)
    (out / f"imaging-{args.instances}-{args.engine}-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(
        json.dumps(results, indent=2))


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def _show(results: dict) -> None:
    print(json.dumps(results, indent=None), flush=True)


def _database(engine: str, workdir: Path):  # noqa: ANN202
    workdir.mkdir(parents=True, exist_ok=True)
    if engine == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", lambda: None
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from ehr_core.storage.engine import bare_engine
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
