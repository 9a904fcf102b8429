"""Imaging fixtures: both storage backends (embedded store and a private Orthanc), an Archive per
test on both engines, and an HTTP client for the DICOMweb routes.

The Orthanc backend never skips: if Orthanc is not installed the fixture fails (run
scripts/ensure-orthanc). One Orthanc per test session (per xdist worker), on loopback, free
ports, a temporary storage directory.
"""
from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from imaging.api import router
from imaging.archive import Archive
from imaging.backends.local import LocalStore
from imaging.backends.orthanc import OrthancStore
from imaging.settings import ImagingSettings
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


def client_for(archive: Archive) -> TestClient:
    app = FastAPI()
    app.include_router(router(archive.service, archive))
    return TestClient(app)


@pytest.fixture
def client(archive) -> TestClient:  # noqa: ANN001
    return client_for(archive)


@pytest.fixture
def local_client(local_archive) -> TestClient:  # noqa: ANN001
    return client_for(local_archive)
