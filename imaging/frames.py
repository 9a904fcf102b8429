"""Cut frames out of a data set's Pixel Data, as stored (PS3.5 A.4 for encapsulated, 8.1.1 native).

Used by the embedded store's ``retrieve_frames`` and by WADO-RS frame retrieval.
"""
from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from imaging.errors import NotFound


def frame_count(ds: Dataset) -> int:
    try:
        return int(ds.get("NumberOfFrames") or 1)
    except (TypeError, ValueError):
        return 1


def extract_frames(ds: Dataset, numbers: Sequence[int]) -> list[bytes]:
    """Frames ``numbers`` (1-based) of ``ds``; ``NotFound`` for a frame the instance lacks."""
    if "PixelData" not in ds:
        raise NotFound("the instance has no Pixel Data (7FE0,0010)")
    total = frame_count(ds)
    for n in numbers:
        if not 1 <= n <= total:
            raise NotFound(f"frame {n} is outside 1..{total}")
    pixel_data = ds.PixelData
    if ds.file_meta.TransferSyntaxUID.is_encapsulated:
        wanted = max(numbers)
        frames: list[bytes] = []
        for frame in generate_frames(pixel_data, number_of_frames=total):
            frames.append(frame)
            if len(frames) >= wanted:
                break
        return [frames[n - 1] for n in numbers]
    return [_native_frame(ds, pixel_data, n) for n in numbers]


def _native_frame(ds: Dataset, pixel_data: bytes, number: int) -> bytes:
    pixels = int(ds.Rows) * int(ds.Columns) * int(ds.get("SamplesPerPixel") or 1)
    bits = int(ds.BitsAllocated)
    if bits == 1:
        # Bit-packed frames need not start on a byte boundary (PS3.5 8.1.1): unpack and repack.
        import numpy as np
        from pydicom.pixels import pack_bits, unpack_bits
        all_bits = unpack_bits(pixel_data)
        one = all_bits[(number - 1) * pixels: number * pixels]
        return pack_bits(np.asarray(one, dtype="uint8"), pad=False)
    size = pixels * bits // 8
    frame = pixel_data[(number - 1) * size: number * size]
    if len(frame) != size:
        raise NotFound(f"frame {number}: the Pixel Data is shorter than the image description says")
    return frame
