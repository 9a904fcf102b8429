"""Transfer syntaxes for retrieval: what we can send, and decoding to Explicit VR Little Endian.

PS3.18 8.7.3.5: for ``application/dicom`` the default transfer syntax is Explicit VR Little
Endian; ``transfer-syntax=*`` means "as stored". Compressed pixel data (JPEG, JPEG-LS,
JPEG 2000, RLE) is decoded by pydicom with the pylibjpeg plugins. The SOP Instance UID is kept:
this is the same instance in another encoding, not a new one.
"""
from __future__ import annotations

from io import BytesIO

import pydicom
from pydicom.uid import UID, ExplicitVRLittleEndian

from imaging.errors import NotAcceptable

AS_STORED = "*"
# PS3.18 Table 8.7.3-2: frame media types of the compressed transfer syntaxes.
FRAME_MEDIA_TYPES = {
    "1.2.840.10008.1.2.4.50": "image/jpeg", "1.2.840.10008.1.2.4.51": "image/jpeg",
    "1.2.840.10008.1.2.4.57": "image/jpeg", "1.2.840.10008.1.2.4.70": "image/jpeg",
    "1.2.840.10008.1.2.4.80": "image/jls", "1.2.840.10008.1.2.4.81": "image/jls",
    "1.2.840.10008.1.2.4.90": "image/jp2", "1.2.840.10008.1.2.4.91": "image/jp2",
    "1.2.840.10008.1.2.4.92": "image/jpx", "1.2.840.10008.1.2.4.93": "image/jpx",
    "1.2.840.10008.1.2.5": "image/dicom-rle",
}
OCTET_STREAM = "application/octet-stream"


def frame_media_type(transfer_syntax: str) -> str:
    return FRAME_MEDIA_TYPES.get(transfer_syntax, OCTET_STREAM)


def is_encapsulated(transfer_syntax: str) -> bool:
    return UID(transfer_syntax).is_encapsulated


def convert(data: bytes, stored: str, wanted: str) -> bytes:
    """``data`` (PS3.10, in ``stored``) in transfer syntax ``wanted`` (or as stored for ``*``)."""
    if wanted in (AS_STORED, stored):
        return data
    if wanted != ExplicitVRLittleEndian:
        raise NotAcceptable(f"instances are sent as stored ({stored}) or as Explicit VR Little Endian, "
                            f"not {wanted}")
    ds = pydicom.dcmread(BytesIO(data))
    if ds.file_meta.TransferSyntaxUID.is_compressed:
        ds.decompress(generate_instance_uid=False)
    else:
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def decoded_frames(data: bytes, numbers: list[int]) -> list[bytes]:
    """Frames decoded to native pixel bytes (little endian; colour as RGB)."""
    ds = pydicom.dcmread(BytesIO(data))
    from pydicom.pixels import pixel_array
    return [pixel_array(ds, index=n - 1).tobytes() for n in numbers]
