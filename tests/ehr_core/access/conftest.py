"""One small population per engine for the access-rule suite (built once per module)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ehr_core.api import create_app
from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.engine import make_engine
from tests.utils.access_world import build
from tests.utils.databases import ENGINES


@pytest.fixture(scope="module", params=ENGINES)
def world(request, databases):  # noqa: ANN001
    url = databases.url(request.param)
    # audit_sync: assertions may read the audit trail right after each request; the default
    # (asynchronous, within a second) has its own test.
    settings = Settings(database_url=url, demo_data=False, base_url="http://testserver", dev_auth=True,
                        audit_sync=True)
    svc = Service.from_settings(settings, engine=make_engine(url))
    with TestClient(create_app(svc)) as http:
        yield build(http, svc)
    svc.engine.dispose()
    databases.drop(url)
