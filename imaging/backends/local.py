"""The embedded store: content-addressed files under EVK_DATA_DIR (the default backend).

A file's name is the SHA-256 of its bytes, so storing the same bytes again finds the file
already there and changes nothing, and two instances can never overwrite each other. Files are
written to a temporary name, flushed to disk and renamed, so a crash leaves either the whole
file or none.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from io import BytesIO
from pathlib import Path

import pydicom

from imaging.backends.base import StorageBackend, Stored
from imaging.errors import NotFound
from imaging.frames import extract_frames

_KEY = re.compile(r"^[0-9a-f]{64}$")


class LocalStore(StorageBackend):
    name = "local"

    def __init__(self, root: Path):
        self.root = Path(root)         # created by the first store, not by merely configuring it

    def path(self, key: str) -> Path:
        if not _KEY.match(key):
            raise NotFound(f"{key!r} is not a key of the embedded store")
        return self.root / key[:2] / key[2:4] / key

    def store(self, data: bytes, content_hash: str) -> Stored:
        target = self.path(content_hash)
        if target.exists():
            return Stored(content_hash, created=False)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return Stored(content_hash, created=True)

    def retrieve(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"the embedded store has no object {key}") from None

    def retrieve_frames(self, key: str, numbers: Sequence[int]) -> list[bytes]:
        ds = pydicom.dcmread(BytesIO(self.retrieve(key)))
        return extract_frames(ds, numbers)

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def health(self) -> dict:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            usage = shutil.disk_usage(self.root)
            return {"backend": self.name, "ok": os.access(self.root, os.W_OK), "path": str(self.root),
                    "free_bytes": usage.free}
        except OSError as exc:
            return {"backend": self.name, "ok": False, "error": str(exc)}
