"""Demo data for the embedded set-up: a few real Synthea patients, loaded on first start."""
from __future__ import annotations

import logging
from pathlib import Path

import orjson
from sqlalchemy import func, select

from ehr_core.loader import collect_files, load_file
from ehr_core.storage import schema

DEMO = Path(__file__).resolve().parents[1] / "demo"
log = logging.getLogger("evk.demo")


def load_demo_data(service) -> int:  # noqa: ANN001
    """Load ``demo/`` if the database holds no resources yet. Returns resources created."""
    with service.engine.connect() as conn:
        if conn.execute(select(func.count()).select_from(schema.resource)).scalar():
            return 0
    created = 0
    for path in collect_files([DEMO]):
        r = load_file(service.handler, path)
        created += r.created
        for e in r.errors:
            log.warning("demo data %s: %s", path.name, e)
    for code, name in give_personal_codes(service):
        log.warning("demo sign-in: personal_code=%s (%s)", code, name)
    log.info("demo data: %d resources", created)
    return created


def demo_personal_code(birth_date: str, serial: int) -> str:
    """A valid legacy personal code for a birth date (personal-code.md), so demo people can sign in."""
    from adapters.national import personal_code as pc
    y, m, d = birth_date[:10].split("-")
    century = {"18": "0", "19": "1", "20": "2"}[y[:2]]
    digits = f"{d}{m}{y[2:]}{century}{serial:03d}"
    return pc.format(digits + str(pc.check_digit(digits)))


def give_personal_codes(service) -> list[tuple[str, str]]:  # noqa: ANN001
    """Synthea people carry no Latvian personal code; give each demo Patient one from its birth date."""
    from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
    from ehr_core.rest.messages import FhirRequest
    with service.engine.connect() as conn:
        rows = conn.execute(select(schema.resource.c.content).where(
            schema.resource.c.resource_type == "Patient", schema.resource.c.deleted.is_(False))).all()
    patients = sorted((orjson.loads(r[0]) for r in rows), key=lambda p: (p.get("birthDate", ""), p["id"]))
    given = []
    for serial, patient in enumerate(patients, start=101):
        if not patient.get("birthDate") or any(i.get("system") == PERSONAL_CODE_SYSTEM
                                              for i in patient.get("identifier", [])):
            continue
        code = demo_personal_code(patient["birthDate"], serial)
        patient["identifier"] = [*patient.get("identifier", []), {"system": PERSONAL_CODE_SYSTEM, "value": code}]
        resp = service.handler.handle(FhirRequest("PUT", f"Patient/{patient['id']}", [], {}, patient))
        if resp.status < 300:
            name = (patient.get("name") or [{}])[0]
            given.append((code, " ".join([*name.get("given", []), name.get("family", "")])))
    return given
