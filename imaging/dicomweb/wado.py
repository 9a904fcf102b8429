"""WADO-RS: retrieve instances, metadata, frames, bulk data, rendered images (PS3.18 10.4).

Which instances a request names comes from our index; the bytes come from the backend.
Instances and frames are answered multipart/related (PS3.18 8.7.3.5, 8.6.1.2), metadata as
DICOM JSON with absolute BulkDataURIs, rendered and thumbnail images as single JPEG/PNG bodies.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO

import pydicom
from pydicom.uid import ExplicitVRLittleEndian

from imaging.archive import Archive
from imaging.dicomweb import multipart
from imaging.dicomweb.urls import Urls
from imaging.errors import BadRequest, NotAcceptable, NotFound
from imaging.render import RenderOptions
from imaging.transcode import AS_STORED, OCTET_STREAM, convert, decoded_frames, frame_media_type

DICOM = "application/dicom"
RELATIVE_BULK = b'"BulkDataURI":"bulk/'


@dataclass
class Multipart:
    content_type: str
    parts: Iterator[bytes]


def dicom_transfer_syntax(accept: str) -> str:
    """The transfer syntax an Accept header asks instances in: a UID, or ``*`` for as stored.

    ``multipart/related; type="application/dicom"`` without a transfer-syntax parameter means
    Explicit VR Little Endian (PS3.18 8.7.3.5.2); so does a bare ``*/*``.
    """
    if not accept.strip():
        return ExplicitVRLittleEndian
    for item in accept.split(","):
        media, params = multipart.media_type_params(item)
        part_type = params.get("type", DICOM).lower() if media == "multipart/related" else media
        if media in ("*/*", "multipart/*") or part_type == DICOM:
            return params.get("transfer-syntax", ExplicitVRLittleEndian)
    raise NotAcceptable(f"instances are sent as multipart/related; type=\"{DICOM}\" (asked for {accept!r})")


def retrieve(archive: Archive, rows: list, accept: str) -> Multipart:  # noqa: ANN001 - instance rows
    wanted = dicom_transfer_syntax(accept)
    if wanted not in (AS_STORED, ExplicitVRLittleEndian) and any(r.transfer_syntax != wanted for r in rows):
        raise NotAcceptable(f"the instances are sent as stored or as Explicit VR Little Endian, not {wanted}")
    boundary = multipart.new_boundary()

    def parts() -> Iterator[tuple[str, bytes]]:
        for r in rows:
            ts = r.transfer_syntax if wanted == AS_STORED else wanted
            yield f"{DICOM}; transfer-syntax={ts}", convert(archive.backend.retrieve(r.storage_key),
                                                            r.transfer_syntax, wanted)
    params = {"transfer_syntax": wanted} if wanted != AS_STORED else {}
    return Multipart(multipart.content_type(DICOM, boundary, **params), multipart.stream(parts(), boundary))


def metadata(archive: Archive, rows: list, urls: Urls) -> bytes:  # noqa: ANN001
    """The instances' headers as one DICOM JSON array, BulkDataURIs made absolute (PS3.18 10.4.1.2).

    Spliced as bytes rather than parsed: the headers were written by ``metadata.dicom_json`` with
    orjson, so ``"BulkDataURI":"bulk/`` appears exactly where a URI starts (a quote inside a
    JSON string is always escaped). Parsing hundreds of headers per request made the garbage
    collector the slowest part of this route.
    """
    parts = []
    for r, header in zip(rows, archive.headers.headers(rows)):
        base = urls.instance(r.study_uid, r.series_uid, r.sop_uid).encode()
        parts.append(header.replace(RELATIVE_BULK, b'"BulkDataURI":"' + base + b"/bulk/"))
    return b"[" + b",".join(parts) + b"]"


def frames(archive: Archive, row, numbers: list[int], accept: str) -> Multipart:  # noqa: ANN001
    """Frames as stored (compressed media types, or ``transfer-syntax=*``) or decoded to native
    little-endian bytes as ``application/octet-stream`` (the default, PS3.18 8.7.3.5.3)."""
    stored_type = frame_media_type(row.transfer_syntax)
    as_stored = False
    for item in (accept or "*/*").split(","):
        media, params = multipart.media_type_params(item)
        part_type = params.get("type", OCTET_STREAM).lower() if media == "multipart/related" else media
        if params.get("transfer-syntax") == AS_STORED or (part_type == stored_type and part_type != OCTET_STREAM):
            as_stored = True
            break
        if part_type in (OCTET_STREAM, "*/*") or media in ("*/*", "multipart/*"):
            break
    else:
        raise NotAcceptable(f"frames of this instance are {stored_type} as stored or {OCTET_STREAM} (decoded)")
    if row.frames and any(n > row.frames for n in numbers):
        raise NotFound(f"the instance has {row.frames} frame(s)")
    native = stored_type == OCTET_STREAM
    if as_stored or native:
        data = archive.backend.retrieve_frames(row.storage_key, numbers)
        ctype = f"{stored_type}; transfer-syntax={row.transfer_syntax}"
    else:
        data = decoded_frames(archive.backend.retrieve(row.storage_key), numbers)
        ctype = f"{OCTET_STREAM}; transfer-syntax={ExplicitVRLittleEndian}"
    boundary = multipart.new_boundary()
    part_type = ctype.split(";")[0]
    return Multipart(multipart.content_type(part_type, boundary),
                     multipart.stream(((ctype, d) for d in data), boundary))


def bulk(archive: Archive, row, tag: str) -> Multipart:  # noqa: ANN001
    """One top-level bulk data element (the BulkDataURIs that ``metadata`` hands out)."""
    try:
        number = int(tag, 16)
    except ValueError:
        raise NotFound(f"{tag} is not a tag") from None
    ds = pydicom.dcmread(BytesIO(archive.backend.retrieve(row.storage_key)))
    if number not in ds:
        raise NotFound(f"the instance has no element {tag}")
    value = ds[number].value
    data = value if isinstance(value, bytes) else bytes(value or b"")
    boundary = multipart.new_boundary()
    return Multipart(multipart.content_type(OCTET_STREAM, boundary),
                     multipart.stream([(OCTET_STREAM, data)], boundary))


def rendered(archive: Archive, row, frame: int, options: RenderOptions) -> bytes:  # noqa: ANN001
    if row.rows is None:
        raise NotAcceptable(f"instance {row.sop_uid} is not an image")
    return archive.backend.render(row.storage_key, frame, options)


def frame_numbers(text: str) -> list[int]:
    """``1,3,5`` → [1, 3, 5] (PS3.18 10.4.1.1.4: a comma-separated list of 1-based numbers)."""
    try:
        numbers = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        raise BadRequest(f"frame list {text!r} must be numbers separated by commas") from None
    if not numbers or any(n < 1 for n in numbers):
        raise BadRequest("frame numbers start at 1")
    return numbers
