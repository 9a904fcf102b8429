"""The embedded store: content-addressed files under EVK_DATA_DIR (the default backend).

A file's name is the SHA-256 of its bytes, so storing the same bytes again finds the file
already there and changes nothing, and two instances can never overwrite each other. Files are
written to a temporary name, flushed to disk and renamed, and the directories holding the new
names are flushed too, so a crash leaves either the whole file or none, and an index row (which
is committed after ``store_many`` returns) never names a file that a crash could lose.

Group commit: a batch's files are all written first and then fsynced concurrently, so the
file system's journal commits them together instead of once per file.
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

from imaging.backends.base import StorageBackend, Stored, in_parallel
from imaging.errors import BackendError, NotFound
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
        result = self.store_many([(data, content_hash)])[0]
        if isinstance(result, BackendError):
            raise result
        return result

    def store_many(self, items: Sequence[tuple[bytes, str]]) -> list[Stored | BackendError]:
        out: list[Stored | BackendError | None] = [None] * len(items)
        pending: list[tuple[int, int, str, Path]] = []          # (item, fd, temporary name, target)
        new_dirs: set[Path] = set()
        for n, (data, key) in enumerate(items):
            target = self.path(key)
            if target.exists():
                out[n] = Stored(key, created=False)
                continue
            fd, tmp = -1, ""
            try:
                for d in (target.parent.parent, target.parent):
                    if not d.exists():
                        d.mkdir(parents=True, exist_ok=True)
                        new_dirs.add(d)
                fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
                with memoryview(data) as view:
                    written = 0
                    while written < len(view):
                        written += os.write(fd, view[written:])
                pending.append((n, fd, tmp, target))
            except OSError as exc:
                _discard(fd, tmp)
                out[n] = BackendError(f"the embedded store could not write {key}: {exc}")
        synced = in_parallel(_fsync, [fd for _, fd, _, _ in pending])
        renamed: set[Path] = set()
        for (n, fd, tmp, target), error in zip(pending, synced):
            os.close(fd)
            try:
                if error is not None:
                    raise error
                os.replace(tmp, target)
                renamed.add(target.parent)
                out[n] = Stored(items[n][1], created=True)
            except OSError as exc:
                _discard(-1, tmp)
                out[n] = BackendError(f"the embedded store could not write {items[n][1]}: {exc}")
        # The new names, and new fan-out directories in their parents, must outlive a crash too.
        dirs = sorted(renamed | {d.parent for d in new_dirs})
        for d, error in zip(dirs, in_parallel(_fsync_dir, dirs)):
            if error is not None:
                for n, (data, key) in enumerate(items):
                    if isinstance(out[n], Stored) and out[n].created and self.path(key).parent == d:
                        out[n] = BackendError(f"the embedded store could not flush {d}: {error}")
        return out  # type: ignore[return-value] - every slot is filled

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


def _fsync(fd: int) -> OSError | None:
    try:
        os.fsync(fd)
    except OSError as exc:
        return exc
    return None


def _fsync_dir(path: Path) -> OSError | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as exc:
        return exc
    try:
        return _fsync(fd)
    finally:
        os.close(fd)


def _discard(fd: int, tmp: str) -> None:
    if fd >= 0:
        os.close(fd)
    if tmp:
        Path(tmp).unlink(missing_ok=True)
