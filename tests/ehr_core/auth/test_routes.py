"""Identity routes: the development sign-in exists only with EVK_DEV_AUTH; /auth/me."""
from __future__ import annotations

from fastapi.testclient import TestClient

from ehr_core.api import create_app
from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.engine import make_engine
from tests.utils.auth import bearer


def _client(db_url: str, dev: bool) -> tuple[TestClient, Service]:  # noqa: FBT001
    svc = Service.from_settings(Settings(database_url=db_url, demo_data=False, base_url="http://testserver",
                                         dev_auth=dev), engine=make_engine(db_url))
    return TestClient(create_app(svc)), svc


def test_dev_sign_in_only_when_enabled(db_url):  # noqa: ANN001
    http, svc = _client(db_url, dev=False)
    with http:
        assert http.post("/auth/dev/token", data={"personal_code": "32000000001"}).status_code == 404
        assert http.get("/auth/oidc/login", follow_redirects=False).status_code == 404   # no EVK_OIDC_ISSUER
    svc.engine.dispose()


def test_me_lists_whom_one_acts_for(db_url):  # noqa: ANN001
    http, svc = _client(db_url, dev=True)
    with http:
        token = http.post("/auth/dev/token", data={"personal_code": "32000000001"}).json()["access_token"]
        me = http.get("/auth/me", headers=bearer(token)).json()
        assert me["kind"] == "person" and me["act_for"] == []
        assert http.get("/auth/me").status_code == 401
    svc.engine.dispose()
