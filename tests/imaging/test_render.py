"""Decoding and rendering without a server: RLE made here from a native CT (no RLE file in the
shared data), window/level arithmetic per PS3.3 C.11.2.1.2."""
from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
from pydicom.uid import RLELossless

from imaging.render import RenderOptions, apply_window, render_instance
from imaging.transcode import convert
from tests.imaging.dicom_files import CT, encode, read


def test_rle_decodes_like_the_original():
    original = read(CT)
    rle = read(CT)
    rle.compress(RLELossless)
    data = encode(rle)
    back = pydicom.dcmread(BytesIO(convert(data, RLELossless, "1.2.840.10008.1.2.1")))
    assert (back.pixel_array == original.pixel_array).all()
    options = RenderOptions(media_type="image/png")
    assert render_instance(data, 1, options) == render_instance(encode(original), 1, options)


def test_linear_window():
    x = np.array([-1000.0, 0.0, 39.5, 40.0, 79.0, 1000.0])
    y = apply_window(x, 40, 80)
    assert y[0] == 0 and y[-1] == 255 and 120 < y[2] < 130 and y[4] > 250
    assert (np.diff(apply_window(x, 40, 80, "sigmoid")) >= 0).all()
