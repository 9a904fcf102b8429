"""Database engines: SQLite (embedded default) and PostgreSQL, behind the same SQLAlchemy API.

SQLite: WAL journal (readers never block the writer), ``synchronous=NORMAL`` (durable at each
WAL checkpoint; a kill -9 of the process loses nothing committed, only power loss could lose
the last transactions), and ``BEGIN IMMEDIATE`` for write transactions so that two writers
serialise at BEGIN instead of failing mid-transaction with SQLITE_BUSY. That serialisation is
also what makes conditional create race-free on SQLite.
PostgreSQL: psycopg 3; conditional create takes a transaction-scoped advisory lock.
"""
from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def make_engine(url: str, *, pool_size: int = 10) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 60},
                               pool_size=pool_size, max_overflow=20)
        _configure_sqlite(engine)
        return engine
    engine = create_engine(url, pool_size=pool_size, max_overflow=20)
    _ping_when_idle(engine)
    return engine


# A pooled connection idle for longer than this is pinged before it is handed out: a database
# restart or an idle timeout in between has closed it. One in steady use is not: SQLAlchemy's
# pool_pre_ping pings on every checkout, a round trip per request (~12 % of a PostgreSQL read
# by id). A connection that breaks while in use is caught by SQLAlchemy's disconnect handling,
# which discards the whole pool.
PING_AFTER_IDLE_SECONDS = 1.0


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_conn, record, _proxy):  # noqa: ANN001
        returned = record.info.get("returned")
        if returned is not None and time.monotonic() - returned > PING_AFTER_IDLE_SECONDS:
            try:
                engine.dialect.do_ping(dbapi_conn)
            except Exception as exc:    # the pool retries with a new connection
                raise DisconnectionError(f"idle connection is gone: {exc}") from exc

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_conn, record):  # noqa: ANN001
        record.info["returned"] = time.monotonic()


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):  # noqa: ANN001
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (see "begin" below).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA cache_size=-65536")
        cur.execute("PRAGMA temp_store=MEMORY")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):  # noqa: ANN001
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")


def write_options(engine: Engine) -> dict:
    """Execution options for a connection that will write."""
    return {"sqlite_begin": "IMMEDIATE"} if is_sqlite(engine) else {}


def bare_engine(url: str) -> Engine:
    """An engine without a pool, for one-off admin work (creating test databases)."""
    return create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")


def analyze(engine: Engine) -> None:
    """Refresh planner statistics after bulk loads.

    Without statistics SQLite picks the first index that fits rather than the selective one
    (measured: a token search 17x slower); PostgreSQL's autovacuum catches up only later. On
    PostgreSQL this is VACUUM ANALYZE: the vacuum sets the visibility map, without which the
    "index-only" scans of the index tables visit the heap for every row (a token search over
    7,719 matches read 7,449 table blocks), and ANALYZE fills the extended statistics of
    migration 0008.
    """
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE)")
        return
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
