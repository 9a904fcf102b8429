"""Pooled connections: pinged only after sitting idle, and a dead one is replaced unseen."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from ehr_core.storage import engine as engines
from ehr_core.storage.engine import bare_engine, make_engine


@pytest.fixture
def pg_url(databases):  # noqa: ANN001
    """PostgreSQL only: SQLite has no server connection to lose."""
    url = databases.url("postgresql")
    yield url
    databases.drop(url)


@pytest.fixture
def pg_engine(pg_url):  # noqa: ANN001
    engine = make_engine(pg_url, pool_size=1)
    yield engine
    engine.dispose()


def _backend(engine) -> int:  # noqa: ANN001
    with engine.connect() as c:
        return c.execute(text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_in_steady_use_is_not_pinged(pg_engine, monkeypatch) -> None:  # noqa: ANN001
    pings = []
    monkeypatch.setattr(pg_engine.dialect, "do_ping", lambda conn: pings.append(conn) or True)
    first = _backend(pg_engine)
    assert [_backend(pg_engine) for _ in range(20)] == [first] * 20
    assert pings == []


def test_a_connection_killed_while_idle_is_replaced_before_use(pg_engine, monkeypatch, pg_url) -> None:  # noqa: ANN001
    first = _backend(pg_engine)
    with bare_engine(pg_url).connect() as admin:       # the server restarts, an idle timeout...
        assert admin.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first}).scalar_one()
    monkeypatch.setattr(engines, "PING_AFTER_IDLE_SECONDS", 0.0)
    second = _backend(pg_engine)                       # no error reaches the caller
    assert second != first
