"""WADO-RS rendered and frames decode every compressed syntax we accept: JPEG baseline, JPEG
lossless, JPEG-LS, JPEG 2000, RLE — stored over STOW and read back over HTTP (both engines).

Provenance of the compressed variants: all are made here, in memory, from the shared
``ct/CT_small.dcm`` (pydicom's test file, MIT; ../shared/testdata/PROVENANCE.md) with fresh UIDs:
- RLE Lossless: pydicom's own RLE encoder;
- JPEG-LS Lossless: pydicom with pyjpegls (CharLS), pinned in requirements.txt;
- JPEG 2000 Lossless: pydicom with pylibjpeg-openjpeg (OpenJPEG);
- JPEG Baseline (8 bit only): the CT windowed to 8-bit MONOCHROME2 by imaging/render.py, encoded
  by Pillow (libjpeg) and encapsulated by pydicom (pydicom has no JPEG baseline encoder);
- JPEG Lossless SV1: no encoder is available in Python; the shared ``nm/JPEG-LL.dcm`` is used.
The lossless ones must decode to exactly the original pixels and render exactly like it.
"""
from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import (JPEG2000Lossless, JPEGBaseline8Bit, JPEGLosslessSV1, JPEGLSLossless, RLELossless,
                         generate_uid)

from imaging.render import display_pixels
from tests.imaging.dicom_files import CT, NM_JPEG_LOSSLESS, encode, read, variant
from tests.imaging.multipart_helpers import body, parts

LOSSLESS = (RLELossless, JPEGLSLossless, JPEG2000Lossless)


def compressed(syntax: str) -> pydicom.Dataset:
    """A fresh-UID variant of the shared CT (or the shared JPEG lossless NM) in ``syntax``."""
    if syntax == JPEGLosslessSV1:
        return variant(NM_JPEG_LOSSLESS, fresh=True)
    ds = variant(CT, fresh=True)
    if syntax == JPEGBaseline8Bit:
        grey = display_pixels(ds.pixel_array, ds, 0, None)
        out = BytesIO()
        Image.fromarray(grey).save(out, format="JPEG", quality=95)
        for kw in ("RescaleIntercept", "RescaleSlope", "WindowCenter", "WindowWidth"):
            if kw in ds:
                delattr(ds, kw)
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.PixelData = encapsulate([out.getvalue()])
        ds["PixelData"].VR = "OB"
        ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
        ds.LossyImageCompression = "01"
        return ds
    ds.compress(syntax, generate_instance_uid=False)
    return ds


@pytest.fixture
def stored(local_client):  # noqa: ANN001
    """Every variant, stored over STOW-RS in one request."""
    sets = {syntax: compressed(syntax) for syntax in (*LOSSLESS, JPEGBaseline8Bit, JPEGLosslessSV1)}
    study = generate_uid()
    for ds in sets.values():
        ds.StudyInstanceUID = study
        ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = "P1", "Test^Patient", "", ""
    content, ctype = body([encode(ds) for ds in sets.values()])
    resp = local_client.post("/dicomweb/studies", content=content, headers={"Content-Type": ctype})
    assert resp.status_code == 200, resp.text
    return sets


def _url(ds, *tail: str) -> str:  # noqa: ANN001
    return "/".join([f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
                     f"/instances/{ds.SOPInstanceUID}", *tail])


def _png(client, ds) -> np.ndarray:  # noqa: ANN001
    resp = client.get(_url(ds, "frames", "1", "rendered"), headers={"Accept": "image/png"})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"] == "image/png"
    return np.asarray(Image.open(BytesIO(resp.content)))


def test_every_syntax_is_stored_as_sent(local_client, stored):  # noqa: ANN001
    for syntax, ds in stored.items():
        resp = local_client.get(_url(ds), headers={"Accept": 'multipart/related; type="application/dicom"; '
                                                             "transfer-syntax=*"})
        assert resp.status_code == 200
        (ctype, data), = parts(resp.content, resp.headers["content-type"])
        assert pydicom.dcmread(BytesIO(data)).file_meta.TransferSyntaxUID == syntax


@pytest.mark.parametrize("syntax", LOSSLESS, ids=lambda s: s.name)
def test_lossless_syntaxes_render_and_decode_exactly(local_client, stored, syntax):  # noqa: ANN001
    original = read(CT)
    ds = stored[syntax]
    expected = display_pixels(original.pixel_array, original, 0, None)
    assert (_png(local_client, ds) == expected).all()
    resp = local_client.get(_url(ds, "frames", "1"), headers={"Accept": "multipart/related; "
                                                                         "type=application/octet-stream"})
    (ctype, frame), = parts(resp.content, resp.headers["content-type"])
    assert ctype.startswith("application/octet-stream")
    assert np.array_equal(np.frombuffer(frame, dtype=original.pixel_array.dtype).reshape(128, 128),
                          original.pixel_array)


def test_jpeg_baseline_renders_close_to_the_original(local_client, stored):  # noqa: ANN001
    original = read(CT)
    expected = display_pixels(original.pixel_array, original, 0, None).astype(int)
    rendered = _png(local_client, stored[JPEGBaseline8Bit]).astype(int)
    assert rendered.shape == expected.shape and np.abs(rendered - expected).mean() < 3     # lossy, quality 95


def test_jpeg_lossless_renders(local_client, stored):  # noqa: ANN001
    ds = stored[JPEGLosslessSV1]
    reference = read(NM_JPEG_LOSSLESS)
    expected = display_pixels(reference.pixel_array, reference, 0, None)
    assert (_png(local_client, ds) == expected).all()
