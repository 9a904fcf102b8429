"""bench/audit: the cost of the audit trail — audit on vs off, ingest and search, same requests.

    .venv/bin/python -m bench.audit --engine sqlite --resources 20000
    .venv/bin/python -m bench.audit --engine postgresql --resources 20000

Ingest: replicated Synthea transaction bundles posted as a hospital's system (SMART Backend
Services principal), bundles alternating audit on / off so both see the same data growth.
Search: a mix of patient-scoped searches and reads, as the hospital and as a person signed in
for their own record, alternating on / off per request. Also shown: the same ingest as the
trusted loader (no principal: no guard, no audit) — the guard's own cost. Target (issue 5):
audit overhead <= 10 %. Results go to stdout and bench/results/audit-<engine>.json.
"""
from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

from bench.ingest import RESULTS, _database, _drop
from bench.synthetic import bundles
from ehr_core.auth.principal import PERSON, SYSTEM, Principal
from ehr_core.rest.jsonbody import parse_json
from ehr_core.rest.messages import FhirRequest
from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.engine import make_engine
from ehr_core.storage.migrate import upgrade

PC_SYSTEM = "https://evk.lv/fhir/sid/personas-kods"


def _post(svc: Service, raw: bytes, principal: Principal | None) -> None:
    resp = svc.handler.handle(FhirRequest("POST", "", [], {"prefer": "return=minimal"}, parse_json(raw),
                                          principal=principal))
    if resp.status != 200:
        raise SystemExit(f"ingest failed: {str(resp.body)[:500]}")


def run(url: str, n: int, queries: int) -> dict:
    engine = make_engine(url)
    upgrade(engine)
    svc = Service.from_settings(Settings(database_url=url, demo_data=False), engine=engine)
    from ehr_core.auth.clients import ensure_organization
    org = ensure_organization(svc.handler, "40003000001", "Bench Hospital")
    hospital = Principal(SYSTEM, "bench", organization_id=org, role="hospital", client_id="bench",
                         scopes=frozenset({"system/*.cruds"}))
    guard = svc.handler.guard
    times = {"on": 0.0, "off": 0.0, "trusted": 0.0}
    counts = {"on": 0, "off": 0, "trusted": 0}
    modes = ["on", "off", "trusted"]
    for i, (raw, count) in enumerate(bundles(n)):
        mode = modes[i % 3]
        guard.audit_enabled = mode != "off"
        t0 = time.perf_counter()
        _post(svc, raw, None if mode == "trusted" else hospital)
        times[mode] += time.perf_counter() - t0
        counts[mode] += count
    guard.audit_enabled = True
    ingest = {m: counts[m] / times[m] for m in modes}

    # Searches: patients of the hospital's own data; one of them gets a personal code to sign in.
    with engine.connect() as c:
        patients = [r[0] for r in c.exec_driver_sql(
            "SELECT resource_id FROM access_resource_origin WHERE resource_type = 'Patient'").all()]
    rng = random.Random(5)
    me = patients[0]
    body = svc.handler.handle(FhirRequest("GET", f"Patient/{me}")).body
    body["identifier"] = [*body.get("identifier", []), {"system": PC_SYSTEM, "value": "32000000001"}]
    svc.handler.handle(FhirRequest("PUT", f"Patient/{me}", [], {}, body))
    person = Principal(PERSON, "32000000001", personal_code="32000000001", scopes=frozenset({"user/*.cruds"}))

    def shapes(who: Principal, pid: str) -> list[str]:
        return [f"Observation?subject=Patient/{pid}&_count=50", f"Condition?patient={pid}",
                f"Encounter?subject=Patient/{pid}&_sort=-date&_count=20", f"Patient/{pid}"]

    lat: dict[str, dict[str, list[float]]] = {"hospital": {"on": [], "off": []}, "person": {"on": [], "off": []}}
    for q in range(queries):
        for who, principal, pid in (("hospital", hospital, rng.choice(patients)), ("person", person, me)):
            url_ = rng.choice(shapes(principal, pid))
            for mode in (("on", "off") if q % 2 else ("off", "on")):
                guard.audit_enabled = mode == "on"
                t0 = time.perf_counter()
                resp = svc.handler.handle(FhirRequest.from_url("GET", url_, principal=principal))
                lat[who][mode].append(time.perf_counter() - t0)
                assert resp.status == 200, resp.body
    guard.audit_enabled = True
    guard.audit_writer.flush()      # before the temporary database goes away
    search = {who: {m: statistics.mean(v) * 1000 for m, v in d.items()} for who, d in lat.items()}
    engine.dispose()
    return {"ingest_resources_per_s": ingest, "search_mean_ms": search,
            "ingest_audit_overhead_pct": 100 * (ingest["off"] / ingest["on"] - 1),
            "guard_overhead_pct": 100 * (ingest["trusted"] / ingest["off"] - 1),
            "search_audit_overhead_pct": {w: 100 * (v["on"] / v["off"] - 1) for w, v in search.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--engine", choices=["sqlite", "postgresql"], default="sqlite")
    ap.add_argument("--resources", type=int, default=20000)
    ap.add_argument("--queries", type=int, default=200)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url, name = _database(args.engine, Path(tmp))
        try:
            result = run(url, args.resources, args.queries)
        finally:
            _drop(name)
    result.update(engine=args.engine, resources=args.resources, queries=args.queries)
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"audit-{args.engine}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
