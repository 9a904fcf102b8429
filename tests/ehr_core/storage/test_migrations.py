"""Alembic migrations create exactly the schema the code declares, on both engines."""
from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

import ehr_core.access.schema  # noqa: F401  (tables on the same metadata)
import imaging.schema  # noqa: F401
import adapters.national.submissions.schema  # noqa: F401
from ehr_core.storage import schema


def test_migrated_database_matches_metadata(db_url):  # noqa: ANN001
    engine = create_engine(db_url)   # db_url comes from the migrated template
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), schema.metadata)
    engine.dispose()
    assert diff == []
