"""Imaging fixtures: both storage backends (embedded store and a private Orthanc), an Archive per
test on both engines, and an HTTP client for the DICOMweb routes — with real bearer tokens
(``Auth``): a hospital's system for STOW and for what it submitted, the population register's
system as the imaging administrator (reconciliation, and studies not linked to a card, which is
what data ingested straight through ``ingest`` is), people signed in for themselves.

The Orthanc backend never skips: if Orthanc is not installed the fixture fails (run
scripts/ensure-orthanc). One Orthanc per test session (per xdist worker), on loopback, free
ports, a temporary storage directory.
"""
from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ehr_core.auth.api import router as auth_router
from ehr_core.auth.dev import dev_principal
from imaging.api import router
from imaging.archive import Archive
from imaging.backends.local import LocalStore
from imaging.backends.orthanc import OrthancStore
from imaging.settings import ImagingSettings
from tests.utils.auth import Client, bearer
from tests.utils.orthanc import OrthancServer

BACKENDS = ("local", "orthanc")
DICOMWEB = "http://testserver/dicomweb"


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):  # noqa: ANN001
    server = OrthancServer(tmp_path_factory.mktemp("orthanc")).start()
    yield server
    server.stop()


def make_backend(kind: str, tmp_path, orthanc_server):  # noqa: ANN001, ANN201
    if kind == "orthanc":
        return OrthancStore(orthanc_server.url)
    return LocalStore(tmp_path / "store")


def make_archive(service, backend, tmp_path) -> Archive:  # noqa: ANN001
    settings = ImagingSettings.from_core(service.settings, store_dir=tmp_path / "store", dicomweb_base=DICOMWEB,
                                         backend=backend.name)
    return Archive(service, settings, backend)


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):  # noqa: ANN001
    server = request.getfixturevalue("orthanc") if request.param == "orthanc" else None
    b = make_backend(request.param, tmp_path, server)
    yield b
    b.close()


@pytest.fixture
def archive(service, backend, tmp_path) -> Archive:  # noqa: ANN001
    """Both engines × both backends."""
    return make_archive(service, backend, tmp_path)


@pytest.fixture
def local_archive(service, tmp_path) -> Archive:  # noqa: ANN001
    """Both engines, embedded store only: for what does not depend on the backend."""
    return make_archive(service, LocalStore(tmp_path / "store"), tmp_path)


ORGS = {"hospital": ("40003000001", "hospital", "Riga East Hospital"),
        "hospital_b": ("40003000002", "hospital", "Daugavpils Hospital"),
        "admin": ("90000000001", "register", "Population register")}


class Auth:
    """Real tokens: backend clients through POST /auth/token (private_key_jwt), people through the
    development identity provider's principal, signed by the service's token keys."""

    def __init__(self, service, http: TestClient):  # noqa: ANN001
        self.service, self.http = service, http
        self._tokens: dict[str, str] = {}

    def token(self, who: str) -> str:
        if who not in self._tokens:
            code, role, name = ORGS[who]
            self._tokens[who] = Client(self.service, code, role, name).token(self.http)
        return self._tokens[who]

    def headers(self, who: str) -> dict[str, str]:
        return bearer(self.token(who))

    def person(self, personal_code: str, practitioner: str | None = None) -> dict[str, str]:
        principal = dev_principal(self.service.engine, personal_code, practitioner)
        return bearer(self.service.tokens.issue(principal).access_token)


def client_for(archive: Archive, who: str | None = "hospital") -> TestClient:
    """A client of the imaging routes (and /auth) signed in as ``who`` (None: no token).
    ``client.auth_for`` gives other callers' headers; ``client.anonymous`` sends no token."""
    app = FastAPI()
    app.include_router(router(archive.service, archive))
    app.include_router(auth_router(archive.service))
    http = TestClient(app)
    http.auth_for = Auth(archive.service, http)
    http.anonymous = TestClient(app)
    if who is not None:
        http.headers.update(http.auth_for.headers(who))
    return http


@pytest.fixture
def client(archive) -> TestClient:  # noqa: ANN001
    return client_for(archive)


@pytest.fixture
def local_client(local_archive) -> TestClient:  # noqa: ANN001
    return client_for(local_archive)
