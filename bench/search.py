"""bench/search: search latency and throughput at ≥200k resources (≥1,000 patients), both engines.

    .venv/bin/python -m bench.search --engine sqlite --resources 200000
    .venv/bin/python -m bench.search --engine postgresql --resources 200000 [--keep-db URL]

Loads replicated Synthea bundles (fresh ids per copy), starts ``evk serve``, then measures each
query shape alone (p50/p95 from one client) and the mix with 8 concurrent connections from wrk against
``evk serve --workers 2`` (requests/s, p50/p99). On PostgreSQL it also prints EXPLAIN for the common shapes to show index use.
Results go to stdout and bench/results/search-<engine>.json.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import event, text

from bench.load import wrk_get
from bench.server import evk_server
from bench.ingest import RESULTS, _database, _drop, ingest
from ehr_core.storage.engine import bare_engine, make_engine

PORT = 8766


def _sample(url: str) -> dict:
    """Pick real values from the loaded data: patients, a median patient, common codes, names."""
    engine = make_engine(url)
    with engine.connect() as c:
        counts = c.execute(text(
            "SELECT target_id, COUNT(*) FROM sp_reference WHERE param='patient' "
            "GROUP BY target_id ORDER BY COUNT(*)")).all()
        patients = [r[0] for r in counts]
        median = counts[len(counts) // 2][0]
        codes = [r[0] for r in c.execute(text(
            "SELECT code FROM sp_token WHERE resource_type='Observation' AND param='code' "
            "AND system='http://loinc.org' GROUP BY code ORDER BY COUNT(*) DESC LIMIT 20")).all()]
        names = [r[0] for r in c.execute(text(
            "SELECT value_norm FROM sp_string WHERE resource_type='Patient' AND param='family' "
            "GROUP BY value_norm LIMIT 200")).all()]
    engine.dispose()
    return {"patients": patients, "median": median, "codes": codes, "names": names}


def queries(s: dict) -> dict[str, callable]:
    r = random.Random(7)
    return {
        "token": lambda: f"Observation?code=http://loinc.org|{r.choice(s['codes'])}&_count=20",
        "patient_obs_date_sorted": lambda: (f"Observation?subject=Patient/{r.choice(s['patients'])}"
                                            "&date=ge2010-01-01&date=lt2021-01-01&_sort=-date&_count=50"),
        "string_name": lambda: f"Patient?name={r.choice(s['names'])[:4]}&_count=20",
        "reference_include": lambda: (f"Encounter?subject=Patient/{r.choice(s['patients'])}"
                                      "&_include=Encounter:subject&_count=20"),
        "chained": lambda: f"Encounter?subject.name={r.choice(s['names'])}&_count=20",
        "revinclude": lambda: f"Patient?_id={r.choice(s['patients'])}&_revinclude=Encounter:subject&_count=20",
        "everything": lambda: f"Patient/{s['median']}/$everything",
    }


def _timed(client: httpx.Client, path: str) -> float:
    t0 = time.perf_counter()
    resp = client.get(f"/fhir/{path}")
    elapsed = time.perf_counter() - t0
    if resp.status_code != 200:
        raise RuntimeError(f"{path}: {resp.status_code} {resp.text[:300]}")
    return elapsed


def _mix_worker(args: tuple[dict, float, dict]) -> int:
    sample, until, headers = args
    qs = list(queries(sample).items())
    qs = [(k, f) for k, f in qs if k != "everything"]
    n = 0
    with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=60, headers=headers) as client:
        while time.time() < until:
            _timed(client, random.choice(qs)[1]())
            n += 1
    return n


def measure(url: str, seconds: float, *, audit: bool = True, workers: int = 2) -> dict:
    from bench.auth import hospital
    sample = _sample(url)
    headers = hospital(url, f"http://127.0.0.1:{PORT}")[1]
    out: dict = {"patients": len(sample["patients"])}
    with evk_server(url, PORT, audit=audit):
        with httpx.Client(base_url=f"http://127.0.0.1:{PORT}", timeout=60, headers=headers) as client:
            for name, make in queries(sample).items():
                n = 20 if name == "everything" else 200
                for _ in range(5):
                    _timed(client, make())
                lat = sorted(_timed(client, make()) for _ in range(n))
                out[name] = {"p50_ms": round(statistics.median(lat) * 1000, 2),
                             "p95_ms": round(lat[int(len(lat) * 0.95) - 1] * 1000, 2),
                             "single_client_rps": round(n / sum(lat), 1)}
    # The mix: 8 connections against one worker per core, as production runs it.
    with evk_server(url, PORT, audit=audit, workers=workers):
        base = f"http://127.0.0.1:{PORT}"
        if shutil.which("wrk"):
            shapes = [make for name, make in queries(sample).items() if name != "everything"]
            paths = [f"/fhir/{random.choice(shapes)()}" for _ in range(5000)]
            wrk_get(base, paths, 3, 8, headers)     # warm: caches, prepared statements; steady state is measured
            out["mix_8_clients"] = wrk_get(base, paths, seconds, 8, headers)
        else:   # Python clients in processes: they take CPU from the server on two cores
            until = time.time() + seconds
            with ProcessPoolExecutor(8) as pool:
                total = sum(pool.map(_mix_worker, [(sample, until, headers)] * 8))
            out["mix_8_clients"] = {"client": "httpx", "rps": round(total / seconds, 1)}
        out["mix_8_clients"]["workers"] = workers
    return out


def explain(url: str) -> dict[str, list[str]]:
    """EXPLAIN of every statement a common shape runs (PostgreSQL), as the server runs it: the
    search goes through the core with the benchmark's hospital token, so the plans include the
    access clause the guard adds (the audit is off: its writes are not the search)."""
    from bench.auth import hospital
    from ehr_core.rest.messages import FhirRequest
    from ehr_core.service import Service
    from ehr_core.settings import Settings
    engine = make_engine(url)
    svc = Service.from_settings(Settings(database_url=url, demo_data=False), engine=engine)
    svc.handler.guard.audit_enabled = False
    principal = hospital(url)[0]
    sample = _sample(url)
    plans: dict[str, list[str]] = {}
    for name, make in queries(sample).items():
        path = make()
        captured: list[tuple[str, object]] = []

        def grab(conn, cursor, statement, parameters, context, executemany):  # noqa: ANN001
            if statement.lstrip().upper().startswith(("SELECT", "WITH")):
                captured.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", grab)
        try:
            resp = svc.handler.handle(FhirRequest.from_url("GET", path, principal=principal))
        finally:
            event.remove(engine, "before_cursor_execute", grab)
        if resp.status != 200:
            raise RuntimeError(f"{path}: {resp.status} {str(resp.body)[:300]}")
        lines = [f"-- {path}"]
        with engine.connect() as c:
            raw = c.connection.driver_connection
            for i, (statement, params) in enumerate(captured):
                with raw.cursor() as cur:
                    cur.execute("EXPLAIN " + statement, params)
                    lines += [f"-- statement {i + 1} of {len(captured)}"] + [row[0] for row in cur.fetchall()]
        plans[name] = lines
    engine.dispose()
    return plans


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--resources", type=int, default=200_000)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--workers", type=int, default=2, help="evk serve workers for the mix (one per core)")
    ap.add_argument("--url", help="use an already loaded database instead of loading")
    ap.add_argument("--audit", choices=["on", "off", "both"], default="on",
                    help="both: the same database measured with audit on, then off (its cost)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pg_name = None
        if args.url:
            url, loaded = args.url, None
        else:
            url, pg_name = _database(args.engine, Path(tmp))
            from bench.auth import hospital
            from ehr_core.storage.migrate import upgrade
            upgrade(make_engine(url))
            n, secs, _ = ingest(url, args.resources, hospital(url)[0])   # the hospital reads what it sent
            loaded = {"resources": n, "load_seconds": round(secs, 1)}
            if url.startswith("postgresql"):
                # Write the load out now: otherwise PostgreSQL's spread checkpoint of ~2 GB of WAL
                # runs through the first measurements (the audit-on ones), which then read slower
                # than the audit-off ones after them.
                with bare_engine(url).connect() as c:
                    c.execute(text("CHECKPOINT"))
        try:
            modes = ["on", "off"] if args.audit == "both" else [args.audit]
            runs = {m: measure(url, args.seconds, audit=m == "on", workers=args.workers) for m in modes}
            result = {"engine": args.engine, "loaded": loaded, **runs[modes[0]]}
            if args.audit == "both":
                result["audit_off"] = runs["off"]
                result["audit_overhead_pct"] = {
                    k: round(100 * (v["p50_ms"] / runs["off"][k]["p50_ms"] - 1), 1)
                    for k, v in runs["on"].items() if isinstance(v, dict) and "p50_ms" in v and k != "mix_8_clients"}
                result["audit_overhead_pct"]["mix_8_clients_rps"] = round(
                    100 * (runs["off"]["mix_8_clients"]["rps"] / runs["on"]["mix_8_clients"]["rps"] - 1), 1)
            if url.startswith("postgresql"):
                result["explain"] = explain(url)
                result["explain_seq_scans"] = {k: sum("Seq Scan" in line for line in v)
                                               for k, v in result["explain"].items()}
        finally:
            _drop(pg_name)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"search-{args.engine}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
