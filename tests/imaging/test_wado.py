"""WADO-RS (PS3.18 10.4) on both engines × both backends: instances, metadata, bulk data,
frames, rendered images and thumbnails, with JPEG/JPEG 2000 decoding where a client needs it."""
from __future__ import annotations

from io import BytesIO

import pydicom
import pytest
from PIL import Image

from imaging.ingest import ingest
from tests.imaging.conftest import BACKENDS, client_for, make_archive, make_backend
from tests.imaging.dicom_files import TESTS
from tests.imaging.dicom_files import (CT, CT_MULTIFRAME, NM_J2K, SR, US_JPEG_MULTIFRAME, US_PALETTE, encode, read,
                                       variant)
from tests.imaging.multipart_helpers import parts

ELE = "1.2.840.10008.1.2.1"
DICOM_ANY = 'multipart/related; type="application/dicom"; transfer-syntax=*'


@pytest.fixture(scope="module", params=BACKENDS)
def wado(request, module_service, tmp_path_factory):  # noqa: ANN001
    """One study per engine × backend, read by every test of the module: CT (native), NM (JPEG 2000),
    US (30 JPEG frames), enhanced CT (2 frames), SR (no pixels), US (palette colour)."""
    tmp = tmp_path_factory.mktemp("wado")
    server = request.getfixturevalue("orthanc") if request.param == "orthanc" else None
    archive = make_archive(module_service, make_backend(request.param, tmp, server), tmp)
    study = variant(CT, fresh=True).StudyInstanceUID
    sets = {name: variant(path, fresh=True, study=study, patient_id="P1", name="Test^Patient", birth="", sex="")
            for name, path in (("ct", CT), ("j2k", NM_J2K), ("us", US_JPEG_MULTIFRAME), ("mf", CT_MULTIFRAME),
                               ("sr", SR), ("pal", US_PALETTE))}
    data = {name: encode(ds) for name, ds in sets.items()}
    report = ingest(archive, [(d, n) for n, d in data.items()], TESTS)
    assert not report.failed, report.failed
    # Not linked to a card (no Patient has P1): the imaging administrator reads it.
    yield client_for(archive, "admin"), {name: (ds, data[name]) for name, ds in sets.items()}
    archive.close()


@pytest.fixture
def client(wado):  # noqa: ANN001
    return wado[0]


@pytest.fixture
def stored(wado):  # noqa: ANN001
    return wado[1]


def _url(ds, *tail: str) -> str:  # noqa: ANN001
    return "/".join([f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                     f"/instances/{ds.SOPInstanceUID}", *tail])


def _multipart(resp) -> list[tuple[str, bytes]]:  # noqa: ANN001
    assert resp.status_code == 200, resp.text
    return parts(resp.content, resp.headers["content-type"])


def test_instance_as_stored_and_as_explicit_little_endian(client, stored):
    ct, ct_bytes = stored["ct"]
    (ctype, body), = _multipart(client.get(_url(ct), headers={"Accept": DICOM_ANY}))
    assert body == ct_bytes and ELE in ctype
    j2k, j2k_bytes = stored["j2k"]
    (ctype, body), = _multipart(client.get(_url(j2k), headers={"Accept": DICOM_ANY}))
    assert body == j2k_bytes and "1.2.840.10008.1.2.4.91" in ctype
    # No transfer-syntax parameter means Explicit VR Little Endian (PS3.18 8.7.3.5.2): decoded.
    (ctype, body), = _multipart(client.get(_url(j2k), headers={"Accept": 'multipart/related; type="application/dicom"'}))
    ds = pydicom.dcmread(BytesIO(body))
    assert ds.file_meta.TransferSyntaxUID == ELE and ds.SOPInstanceUID == j2k.SOPInstanceUID
    assert (ds.pixel_array == read(NM_J2K).pixel_array).all()                    # lossless round trip


def test_series_and_study_retrieval(client, stored):
    ct, _ = stored["ct"]
    study = _multipart(client.get(f"/dicomweb/studies/{ct.StudyInstanceUID}", headers={"Accept": DICOM_ANY}))
    assert len(study) == 6
    assert {pydicom.dcmread(BytesIO(b)).SOPInstanceUID for _, b in study} == {d.SOPInstanceUID for d, _ in stored.values()}
    series = _multipart(client.get(f"/dicomweb/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}",
                                   headers={"Accept": DICOM_ANY}))
    assert len(series) == 1


def test_not_acceptable_and_not_found(client, stored):
    ct, _ = stored["ct"]
    assert client.get(_url(ct), headers={"Accept": "application/dicom+json"}).status_code == 406
    jpeg = 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50'
    assert client.get(_url(ct), headers={"Accept": jpeg}).status_code == 406
    assert client.get(f"/dicomweb/studies/{ct.StudyInstanceUID}/series/{ct.SeriesInstanceUID}/instances/1.2.3",
                      headers={"Accept": DICOM_ANY}).status_code == 404
    assert client.get("/dicomweb/studies/1.2.3/metadata").status_code == 404


def test_metadata_and_bulk_data(client, stored):
    ct, ct_bytes = stored["ct"]
    resp = client.get(f"/dicomweb/studies/{ct.StudyInstanceUID}/metadata")
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("application/dicom+json")
    headers = resp.json()
    assert len(headers) == 6
    mine = next(h for h in headers if h["00080018"]["Value"] == [ct.SOPInstanceUID])
    uri = mine["7FE00010"]["BulkDataURI"]
    assert uri == "http://testserver" + _url(ct, "bulk", "7FE00010")
    (ctype, pixel_data), = _multipart(client.get(uri.replace("http://testserver", "")))
    assert ctype.startswith("application/octet-stream") and pixel_data == read(CT).PixelData
    one = client.get(_url(ct, "metadata")).json()
    assert len(one) == 1 and one[0]["00100020"]["Value"] == ["P1"]


def test_frames(client, stored):
    mf, _ = stored["mf"]
    frames = _multipart(client.get(_url(mf, "frames", "1,2")))
    assert [len(b) for _, b in frames] == [mf.Rows * mf.Columns * 2] * 2
    assert frames[1][1] == read(CT_MULTIFRAME).PixelData[mf.Rows * mf.Columns * 2:]
    j2k, _ = stored["j2k"]
    (ctype, code), = _multipart(client.get(_url(j2k, "frames", "1"), headers={"Accept": 'multipart/related; type="image/jp2"'}))
    assert ctype.startswith("image/jp2") and code[:4] == b"\xff\x4f\xff\x51"      # a JPEG 2000 codestream
    (ctype, raw), = _multipart(client.get(_url(j2k, "frames", "1")))               # decoded by default
    assert ctype.startswith("application/octet-stream") and raw == read(NM_J2K).pixel_array.tobytes()
    us, _ = stored["us"]
    jpegs = _multipart(client.get(_url(us, "frames", "1,15,30"),
                                  headers={"Accept": 'multipart/related; type="image/jpeg"; transfer-syntax=*'}))
    assert len(jpegs) == 3 and all(b[:2] == b"\xff\xd8" for _, b in jpegs)
    assert client.get(_url(us, "frames", "31")).status_code == 404
    assert client.get(_url(us, "frames", "0")).status_code == 400


def test_rendered_and_thumbnails(client, stored):
    ct, _ = stored["ct"]
    jpeg = client.get(_url(ct, "rendered"))
    assert jpeg.status_code == 200 and jpeg.headers["content-type"] == "image/jpeg"
    assert Image.open(BytesIO(jpeg.content)).size == (128, 128)                     # full resolution by default
    png = client.get(_url(ct, "rendered"), params={"viewport": "64,64"}, headers={"Accept": "image/png"})
    assert png.headers["content-type"] == "image/png" and Image.open(BytesIO(png.content)).size == (64, 64)
    narrow = client.get(_url(ct, "rendered"), params={"window": "40,80"}, headers={"Accept": "image/png"})
    wide = client.get(_url(ct, "rendered"), params={"window": "40,2000,sigmoid"}, headers={"Accept": "image/png"})
    assert narrow.content != wide.content
    assert client.get(_url(ct, "rendered"), params={"window": "40"}).status_code == 400
    assert client.get(_url(ct, "rendered"), headers={"Accept": "image/gif"}).status_code == 406

    us, _ = stored["us"]
    frame = client.get(_url(us, "frames", "10", "rendered"), headers={"Accept": "image/png"})
    assert Image.open(BytesIO(frame.content)).mode == "RGB"
    pal, _ = stored["pal"]
    assert client.get(_url(pal, "rendered")).status_code == 200
    j2k, _ = stored["j2k"]
    thumb = client.get(_url(j2k, "thumbnail"))
    assert thumb.status_code == 200 and Image.open(BytesIO(thumb.content)).size == (64, 256)
    study_thumb = client.get(f"/dicomweb/studies/{ct.StudyInstanceUID}/thumbnail", params={"viewport": "32,32"})
    assert study_thumb.status_code == 200 and max(Image.open(BytesIO(study_thumb.content)).size) == 32
    sr, _ = stored["sr"]
    assert client.get(_url(sr, "rendered")).status_code == 406
