"""Demo data for the embedded set-up: a few real Synthea patients, loaded on first start."""
from __future__ import annotations

import logging
from pathlib import Path

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
    log.info("demo data: %d resources", created)
    return created
