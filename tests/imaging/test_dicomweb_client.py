"""Interoperability: the dicomweb-client library (as viewers and scripts use it) against a live
server on loopback — STOW, QIDO with wildcards, WADO instance/metadata/frames/rendered."""
from __future__ import annotations

import threading
import time
from io import BytesIO

import pytest
import uvicorn
from dicomweb_client.api import DICOMwebClient
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from ehr_core.auth.api import router as auth_router
from imaging.api import router
from tests.imaging.conftest import Auth
from tests.imaging.dicom_files import CT, NM_J2K, variant
from tests.utils.orthanc import free_port


@pytest.fixture
def live(local_archive):  # noqa: ANN001
    app = FastAPI()
    app.include_router(router(local_archive.service, local_archive))
    app.include_router(auth_router(local_archive.service))
    token = Auth(local_archive.service, TestClient(app)).token("hospital")      # a hospital's system
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield DICOMwebClient(url=f"http://127.0.0.1:{port}/dicomweb", headers={"Authorization": f"Bearer {token}"})
    server.should_exit = True
    thread.join(10)


def test_dicomweb_client_round_trip(live):
    ct = variant(CT, name="Ozola^Ilze", fresh=True)
    nm = variant(NM_J2K, name="Ozola^Ilze", patient_id=ct.PatientID, birth="", sex=ct.PatientSex, fresh=True,
                 study=ct.StudyInstanceUID)
    response = live.store_instances([ct, nm])
    assert len(response.ReferencedSOPSequence) == 2

    studies = live.search_for_studies(search_filters={"PatientName": "OZOLA*"})
    assert [s["0020000D"]["Value"][0] for s in studies] == [ct.StudyInstanceUID]
    series = live.search_for_series(ct.StudyInstanceUID)
    assert len(series) == 2

    back = live.retrieve_instance(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert back.SOPInstanceUID == ct.SOPInstanceUID and back.PixelData == ct.PixelData
    meta = live.retrieve_study_metadata(ct.StudyInstanceUID)
    assert len(meta) == 2
    frames = live.retrieve_instance_frames(nm.StudyInstanceUID, nm.SeriesInstanceUID, nm.SOPInstanceUID, [1])
    assert len(frames[0]) == nm.Rows * nm.Columns * 2                  # decoded from JPEG 2000
    rendered = live.retrieve_instance_rendered(ct.StudyInstanceUID, ct.SeriesInstanceUID, ct.SOPInstanceUID,
                                               media_types=("image/png",))
    assert Image.open(BytesIO(rendered)).size == (ct.Columns, ct.Rows)
