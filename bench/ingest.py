"""bench/ingest: resources/second loading replicated Synthea bundles, against the engine's floor.

    .venv/bin/python -m bench.ingest --engine sqlite --resources 200000
    .venv/bin/python -m bench.ingest --engine postgresql --resources 200000

Our rate: each bundle goes through the same path as ``evk load`` (strict JSON parse, validation,
reference resolution, index extraction, one transaction per bundle). The floor: the same JSON
documents inserted into a bare (id, content) table of the same engine, one transaction per
bundle. Then read-by-id latency with 8 concurrent clients over HTTP against ``evk serve``, and
the server's resident memory per worker (wrk drives the reads when installed: `apt-get install
wrk`; else Python clients, which compete with the server for the two cores). Results are printed and written to bench/results/.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import orjson
from sqlalchemy import Column, LargeBinary, MetaData, String, Table, text

from bench.load import wrk_get
from bench.server import evk_server
from bench.synthetic import bundles
from ehr_core.rest.jsonbody import parse_json
from ehr_core.rest.messages import FhirRequest
from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.checkpoint import start_checkpointer
from ehr_core.storage.engine import analyze, bare_engine, make_engine, write_options
from ehr_core.storage.migrate import upgrade

RESULTS = Path(__file__).parent / "results"


def _database(kind: str, workdir: Path) -> tuple[str, str | None]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite3'}", None
    name = f"evk_bench_{uuid.uuid4().hex[:8]}"
    with bare_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres").connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}", name


def _drop(name: str | None) -> None:
    if name:
        with bare_engine("postgresql+psycopg://postgres@127.0.0.1:5432/postgres").connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def ingest(url: str, n: int, principal=None) -> tuple[int, float, list[tuple[str, str]]]:  # noqa: ANN001
    """``principal``: ingest as that caller (access control + audit), else as the trusted loader."""
    engine = make_engine(url)
    upgrade(engine)
    start_checkpointer(engine)   # as `evk load` and `evk serve` do
    svc = Service.from_settings(Settings(database_url=url, demo_data=False), engine=engine)
    total, ids, t0 = 0, [], time.perf_counter()
    for raw, count in bundles(n):
        resp = svc.handler.handle(FhirRequest("POST", "", [], {"prefer": "return=minimal"}, parse_json(raw),
                                              principal=principal))
        if resp.status != 200:
            raise SystemExit(f"ingest failed: {resp.body}")
        total += count
        for e in resp.body["entry"][:3]:
            rt, id = e["response"]["location"].split("/")[:2]
            ids.append((rt, id))
    elapsed = time.perf_counter() - t0
    analyze(engine)   # as `evk load` does after a bulk load; not counted in the ingest rate
    engine.dispose()
    return total, elapsed, ids


def floor(url: str, n: int) -> tuple[int, float]:
    engine = make_engine(url)
    md = MetaData()
    bare = Table("floor_doc", md, Column("id", String(64), primary_key=True), Column("content", LargeBinary))
    md.drop_all(engine)
    md.create_all(engine)
    total, t0 = 0, time.perf_counter()
    for raw, count in bundles(n):
        docs = [{"id": str(uuid.uuid4()), "content": orjson.dumps(e["resource"])} for e in orjson.loads(raw)["entry"]]
        with engine.connect().execution_options(**write_options(engine)) as conn, conn.begin():
            conn.execute(bare.insert(), docs)
        total += count
    elapsed = time.perf_counter() - t0
    md.drop_all(engine)
    engine.dispose()
    return total, elapsed


def _reader(args: tuple[str, list[tuple[str, str]], float, dict]) -> list[float]:
    import httpx
    base, ids, until, headers = args
    lat = []
    with httpx.Client(base_url=base, timeout=30, headers=headers) as client:
        while time.time() < until:
            rt, id = random.choice(ids)
            t0 = time.perf_counter()
            r = client.get(f"/fhir/{rt}/{id}")
            lat.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text
    return lat


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _worker_rss_mb(pid: int) -> float:
    """The largest resident set among the server and its worker processes."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(x) for x in children.read_text().split()] if children.exists() else []
    return max([_rss_mb(pid), *(_rss_mb(k) for k in kids)])


def reads(url: str, ids: list[tuple[str, str]], seconds: float, clients: int = 8, *, audit: bool = True,
          workers: int = 2) -> dict:
    import shutil
    from bench.auth import hospital
    port = 8765
    base = f"http://127.0.0.1:{port}"
    headers = hospital(url, base)[1]
    with evk_server(url, port, audit=audit, workers=workers) as server:
        if shutil.which("wrk"):
            result = wrk_get(base, [f"/fhir/{rt}/{id}" for rt, id in ids], seconds, clients, headers)
        else:   # Python clients in processes: they take CPU from the server on two cores
            until = time.time() + seconds
            with ProcessPoolExecutor(clients) as pool:
                lats = sorted(x for chunk in pool.map(_reader, [(base, ids, until, headers)] * clients)
                              for x in chunk)
            result = {"client": "httpx", "clients": clients, "requests": len(lats), "rps": round(len(lats) / seconds, 1),
                      "p50_ms": round(statistics.median(lats) * 1000, 2),
                      "p99_ms": round(lats[int(len(lats) * 0.99)] * 1000, 2)}
        result.update(workers=workers, server_rss_mb_per_worker=round(_worker_rss_mb(server.pid), 1))
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--resources", type=int, default=200_000)
    ap.add_argument("--read-seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, default=2, help="evk serve worker processes for the read test "
                    "(one per core)")
    ap.add_argument("--audit", choices=["on", "off"], default="on", help="off only to measure the audit's cost")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, pg_name = _database(args.engine, Path(tmp))
        try:
            from bench.auth import hospital
            upgrade(make_engine(url))
            principal = hospital(url)[0]
            os.environ["EVK_AUDIT"] = "1" if args.audit == "on" else "0"
            n, secs, ids = ingest(url, args.resources, principal)
            fn, fsecs = floor(url, args.resources)
            result = {
                "engine": args.engine, "resources": n, "seconds": round(secs, 1),
                "resources_per_s": round(n / secs, 1),
                "floor_resources_per_s": round(fn / fsecs, 1),
                "ratio_to_floor": round((n / secs) / (fn / fsecs), 3),
                "read_by_id": reads(url, ids, args.read_seconds, audit=args.audit == "on", workers=args.workers),
                "audit": args.audit,
            }
        finally:
            _drop(pg_name)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.audit == "on" else "-audit-off"
    (RESULTS / f"ingest-{args.engine}{suffix}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
