"""Fresh databases for tests on both engines.

SQLite: a migrated template file copied per test. PostgreSQL: a migrated template database
cloned with CREATE DATABASE ... TEMPLATE per test (tens of milliseconds), dropped afterwards.
Each pytest-xdist worker has its own template, so workers never share a database.
"""
from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from ehr_core.storage.engine import bare_engine, make_engine
from ehr_core.storage.migrate import upgrade

PG_URL = os.environ.get("EVK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
ENGINES = ("sqlite", "postgresql")


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


class DatabaseFactory:
    def __init__(self, tmp: Path):
        self.tmp = tmp
        self._sqlite_template: Path | None = None
        self._pg_template: str | None = None
        self._admin: Engine | None = None
        self._made: list[tuple[str, str]] = []

    def _pg_admin(self) -> Engine:
        if self._admin is None:
            self._admin = bare_engine(PG_URL)
        return self._admin

    def _pg_url(self, name: str) -> str:
        return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)

    def sqlite(self) -> str:
        if self._sqlite_template is None:
            self._sqlite_template = self.tmp / "template.sqlite3"
            eng = make_engine(f"sqlite:///{self._sqlite_template}")
            upgrade(eng)
            with eng.connect() as c:
                c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            eng.dispose()
        path = self.tmp / f"db-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copy(self._sqlite_template, path)
        return f"sqlite:///{path}"

    def postgresql(self) -> str:
        admin = self._pg_admin()
        if self._pg_template is None:
            self._pg_template = f"evk_tpl_{_worker()}_{uuid.uuid4().hex[:6]}"
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{self._pg_template}"'))
            self._made.append(("db", self._pg_template))
            eng = make_engine(self._pg_url(self._pg_template))
            upgrade(eng)
            eng.dispose()
        name = f"evk_t_{_worker()}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self._pg_template}"'))
        self._made.append(("db", name))
        return self._pg_url(name)

    def url(self, kind: str) -> str:
        return self.sqlite() if kind == "sqlite" else self.postgresql()

    def drop(self, url: str) -> None:
        parsed = make_url(url)
        if parsed.get_backend_name() != "postgresql":
            return
        with self._pg_admin().connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))

    def close(self) -> None:
        if self._admin is None:
            return
        with self._admin.connect() as c:
            for _, name in reversed(self._made):
                c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self._admin.dispose()
