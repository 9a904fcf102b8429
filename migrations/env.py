"""Alembic environment: the target metadata is ehr_core.storage.schema.

The database URL comes from the Alembic config (set by ``evk db upgrade`` from
EVK_DATABASE_URL) so the same migrations run on SQLite and PostgreSQL.
"""
from __future__ import annotations

from alembic import context

from ehr_core.storage import schema
import imaging.schema  # noqa: F401  (imaging index tables on the same metadata)
import ehr_core.access.schema  # noqa: F401  (identity, access and audit tables on the same metadata)
import adapters.national.submissions.schema  # noqa: F401  (the submission log on the same metadata)
from ehr_core.storage.engine import make_engine

config = context.config
target_metadata = schema.metadata


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection) -> None:  # noqa: ANN001
    context.configure(connection=connection, target_metadata=target_metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
