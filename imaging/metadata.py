"""Instance headers as DICOM JSON (PS3.18 F.2): built from the stored bytes when first asked for,
then kept in a file cache.

Why not at ingest: converting every element of a header with pydicom cost about four fifths of
the ingest time, and the JSON was most of the index's size (several KB per instance), while
most instances are never asked for their metadata. The index keeps the attributes searches
need (imaging/schema.py); the full header is derived data, made once per stored object.

The cache is keyed by the SHA-256 of the stored bytes, so it never goes stale (an object never
changes), is shared by every worker and both backends, and can be deleted at any time. Files
are written to a temporary name and renamed, so a reader sees a whole header or none; they are
not fsynced, since a lost one is simply built again.
"""
from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Iterable
from io import BytesIO
from pathlib import Path

import orjson
import pydicom
from pydicom.dataset import Dataset

from imaging.backends import StorageBackend

log = logging.getLogger("evk.imaging.metadata")

# Value representations that hold bulk data (PS3.18 8.6.1.2: replaced by a BulkDataURI).
BULK_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
BULK_THRESHOLD = 1024
UTF8 = "ISO_IR 192"
_KEY = re.compile(r"^[0-9a-f]{64}$")


def dicom_json(ds: Dataset) -> bytes:
    """The data set as DICOM JSON with top-level bulk data as ``bulk/<tag>`` URIs.

    The URIs are relative to the instance's WADO-RS URL and made absolute when served, so the
    cached header does not depend on the public base URL. Bulk data nested in sequences (icons)
    stays inline, since a relative URI could not say which item it came from. An element whose
    value pydicom cannot convert is given without a value rather than failing the whole header
    (the instance was accepted on the attributes the index needs).
    """
    out: dict[str, dict] = {}
    for elem in ds:
        tag = f"{int(elem.tag):08X}"
        try:
            if elem.VR in BULK_VRS and elem.value is not None and len(elem.value) > BULK_THRESHOLD:
                out[tag] = {"vr": elem.VR, "BulkDataURI": f"bulk/{tag}"}
            else:
                out[tag] = elem.to_json_dict(None, 2**62)
        except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for bad values
            log.warning("element %s has a value that cannot be converted (%s); sent without a value", tag, exc)
            out[tag] = {"vr": elem.VR}
    if "00080005" in out:   # JSON text is Unicode whatever the file used (PS3.18 F.2.1)
        out["00080005"] = {"vr": "CS", "Value": [UTF8]}
    return orjson.dumps(out)


class HeaderCache:
    def __init__(self, root: Path, backend: StorageBackend):
        self.root = Path(root)
        self.backend = backend

    def header(self, row) -> bytes:  # noqa: ANN001 - an imaging_instance row
        """The instance's header as DICOM JSON bytes (relative BulkDataURIs)."""
        path = self._path(row.content_hash)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            pass
        data = dicom_json(pydicom.dcmread(BytesIO(self.backend.retrieve(row.storage_key))))
        self._keep(path, data)
        return data

    def headers(self, rows: Iterable) -> list[bytes]:  # noqa: ANN001
        return [self.header(r) for r in rows]

    def parsed(self, row) -> dict:  # noqa: ANN001
        return orjson.loads(self.header(row))

    def _path(self, content_hash: str) -> Path:
        if not _KEY.match(content_hash):
            raise ValueError(f"{content_hash!r} is not a SHA-256")
        return self.root / content_hash[:2] / f"{content_hash}.json"

    def _keep(self, path: Path, data: bytes) -> None:
        tmp = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except OSError as exc:          # a cache that cannot be written only costs time
            log.warning("could not cache the header %s: %s", path.name, exc)
            if tmp is not None:
                Path(tmp).unlink(missing_ok=True)
