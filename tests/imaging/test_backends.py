"""The storage backend contract, run against the embedded store and Orthanc alike."""
from __future__ import annotations

import hashlib

import pytest

from imaging.errors import NotFound
from imaging.render import RenderOptions
from tests.imaging.dicom_files import CR_J2K, CT, CT_MULTIFRAME, US_JPEG_MULTIFRAME, encode, read, variant


def _store(backend, data: bytes):  # noqa: ANN001, ANN202
    return backend.store(data, hashlib.sha256(data).hexdigest())


def test_store_retrieve_and_store_again(backend):
    data = encode(variant(CT, fresh=True))
    first = _store(backend, data)
    assert first.created
    assert backend.retrieve(first.key) == data
    again = _store(backend, data)
    assert again == type(first)(first.key, created=False)


def test_frames_native_and_encapsulated(backend):
    ct = read(CT_MULTIFRAME)
    key = _store(backend, encode(variant(ct, fresh=True))).key
    size = ct.Rows * ct.Columns * ct.BitsAllocated // 8
    f1, f2 = backend.retrieve_frames(key, [1, 2])
    assert len(f1) == len(f2) == size and f1 != f2
    assert f2 == ct.PixelData[size:2 * size]

    us = variant(US_JPEG_MULTIFRAME, fresh=True)
    key = _store(backend, encode(us)).key
    frames = backend.retrieve_frames(key, [1, 30])
    assert all(f.startswith(b"\xff\xd8") for f in frames)            # JPEG SOI: compressed as stored


def test_render_decodes_jpeg2000(backend):
    key = _store(backend, encode(variant(CR_J2K, fresh=True))).key
    png = backend.render(key, 1, RenderOptions(media_type="image/png", viewport=(64, 64)))
    assert png.startswith(b"\x89PNG")


def test_delete_and_unknown_keys(backend):
    key = _store(backend, encode(variant(CT, fresh=True))).key
    backend.delete(key)
    with pytest.raises(NotFound):
        backend.retrieve(key)
    backend.delete(key)                                              # deleting twice is fine


def test_health(backend):
    status = backend.health()
    assert status["ok"] is True and status["backend"] == backend.name
