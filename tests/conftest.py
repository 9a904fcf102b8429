"""Suite-wide fixtures: a fresh database per test on each engine, and the core wired to it."""
from __future__ import annotations

import os

import pytest

# Worlds mint their tokens once per module; a slow or busy CI machine can take longer than the
# production lifetime (10 min) to get through one, and a 401 there says nothing about the rule
# under test. Expiry itself is tested with explicit clocks, not the wall clock.
os.environ.setdefault("EVK_TOKEN_TTL", "14400")

from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.engine import make_engine
from tests.utils.databases import ENGINES, DatabaseFactory


@pytest.fixture(scope="session")
def databases(tmp_path_factory):  # noqa: ANN001
    factory = DatabaseFactory(tmp_path_factory.mktemp("db"))
    yield factory
    factory.close()


def _service(url: str) -> Service:
    settings = Settings(database_url=url, demo_data=False, base_url="http://testserver")
    return Service.from_settings(settings, engine=make_engine(url))


@pytest.fixture(params=ENGINES)
def db_url(request, databases):  # noqa: ANN001
    url = databases.url(request.param)
    yield url
    databases.drop(url)


@pytest.fixture
def service(db_url):  # noqa: ANN001
    svc = _service(db_url)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def handler(service):  # noqa: ANN001
    return service.handler


@pytest.fixture(scope="module", params=ENGINES)
def module_service(request, databases):  # noqa: ANN001
    """One database per engine shared by a whole test module (for data loaded once)."""
    url = databases.url(request.param)
    svc = _service(url)
    yield svc
    svc.engine.dispose()
    databases.drop(url)
