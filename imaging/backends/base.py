"""The storage backend interface: where the bytes of instances live.

Shaped like Orthanc's storage area plugin (create / read / read-range / remove): a backend only
keeps bytes under a key. It never answers searches; our index (imaging/index.py) is the
catalogue whichever backend holds the bytes.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from typing import TypeVar

from imaging.errors import BackendError

T = TypeVar("T")
R = TypeVar("R")


_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def in_parallel(fn: Callable[[T], R], items: Iterable[T]) -> list[R]:
    """``[fn(x) for x in items]`` on a small shared thread pool: for calls that wait on the disk
    or the network with the GIL released (fsync, HTTP), so a batch waits about once, not N times."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="imaging-io")
    return list(_pool.map(fn, items))


@dataclass(frozen=True)
class Stored:
    key: str          # how the backend names the stored bytes
    created: bool     # False when the backend already held them (a repeated store)


class StorageBackend(ABC):
    name: str = ""

    @abstractmethod
    def store(self, data: bytes, content_hash: str) -> Stored:
        """Keep one PS3.10 instance. Storing the same bytes again changes nothing."""

    def store_many(self, items: Sequence[tuple[bytes, str]]) -> list[Stored | BackendError]:
        """``store`` for each ``(data, content_hash)`` of a batch; a failure is returned in its
        place, so it concerns only its own instance. Backends override this to share the cost
        of durability (one group fsync) or of round trips across the batch."""
        out: list[Stored | BackendError] = []
        for data, content_hash in items:
            try:
                out.append(self.store(data, content_hash))
            except BackendError as exc:
                out.append(exc)
        return out

    @abstractmethod
    def retrieve(self, key: str) -> bytes:
        """The PS3.10 bytes as stored. ``imaging.errors.NotFound`` if the key is unknown."""

    @abstractmethod
    def retrieve_frames(self, key: str, numbers: Sequence[int]) -> list[bytes]:
        """Frames (1-based, PS3.18 10.4.1.1.4) as stored: native pixel bytes, or one compressed
        frame each for an encapsulated transfer syntax."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Forget the bytes; deleting an unknown key is not an error."""

    @abstractmethod
    def health(self) -> dict:
        """``{"backend": name, "ok": bool, ...}``; never raises."""

    def render(self, key: str, frame: int, options) -> bytes:  # noqa: ANN001 - render.RenderOptions
        """A consumer image of one frame (PS3.18 8.3.5 rendered media types).

        Rendered here from the stored bytes for every backend, so an image looks the same
        whichever backend holds it and one set of window/viewport rules applies (imaging/render.py).
        """
        from imaging.render import render_instance
        return render_instance(self.retrieve(key), frame, options)

    def close(self) -> None:
        """Release connections."""
