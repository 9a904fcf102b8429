"""The audit writer's database work in a process of its own.

The serving process ships each batch of journal rows (JSON over a pipe) and waits for the
commit with the GIL released; the group commit, retries and ``EVK_AUDIT_SYNC`` semantics of
``writer.AuditWriter`` are unchanged: this is only its ``write_batch``.

The same process projects AuditEvents from the journal while the server is idle
(``ehr_core/audit/journal.py``): a thread at the lowest CPU priority that works only when no
batch has arrived for a while, so the projection, the expensive part of the trail, never
competes with requests for a core.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from multiprocessing.connection import Connection

import orjson

log = logging.getLogger(__name__)

__all__ = ["AuditProcess"]


def _serve(pipe: Connection, database_url: str, durable: bool) -> None:
    """The child: write each batch in one transaction, answer the number written or the error."""
    from ehr_core.audit import trail
    from ehr_core.storage.engine import make_engine
    from ehr_core.storage.repository import Repository

    repo = Repository(make_engine(database_url))
    stats = trail.AuditStats()
    activity = Activity()
    threading.Thread(target=_project_when_idle, args=(repo, activity), name="evk-audit-projector",
                     daemon=True).start()
    while True:
        try:
            message = pipe.recv_bytes()
        except EOFError:    # the serving process is gone
            return
        with activity.batch():
            try:
                events = orjson.loads(message)
                trail.append_batch(repo, events, stats, durable=durable)
                pipe.send_bytes(b"ok")
            except Exception as exc:   # noqa: BLE001 - reported to the parent, which retries and logs
                pipe.send_bytes(b"error: " + repr(exc).encode())


IDLE_SECONDS = 0.5      # no batch for this long: the server is idle enough to project
# AuditEvents projected per transaction while idle: small enough that a batch arriving meanwhile
# waits ~0.1 s at most for the projector's commit (SQLite has one writer), and that the projector
# notices the server is busy again within one chunk.
IDLE_CHUNK = 100


class Activity:
    """When the serving process last sent a batch, and whether one is being written now."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self.busy = 0

    @contextlib.contextmanager
    def batch(self):  # noqa: ANN201
        self.busy += 1
        self.last = time.monotonic()
        try:
            yield
        finally:
            self.last = time.monotonic()
            self.busy -= 1

    def idle(self) -> bool:
        # A batch waiting for the projector's commit is activity too: counting only arrivals,
        # a projector whose chunks outlasted IDLE_SECONDS kept the writer waiting indefinitely
        # and took the cores from requests (measured: the search mix at half its rate).
        return not self.busy and time.monotonic() - self.last >= IDLE_SECONDS


def _project_when_idle(repo, activity: Activity) -> None:  # noqa: ANN001
    from ehr_core.audit import journal
    try:    # Linux: a thread is a task with a priority of its own
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):
        pass
    while True:
        time.sleep(IDLE_SECONDS)
        try:
            while activity.idle() and journal.project(repo, limit=IDLE_CHUNK) == IDLE_CHUNK:
                pass
        except Exception:   # noqa: BLE001 - retried on the next idle moment; the rows stay journalled
            log.warning("projecting AuditEvents from the journal failed", exc_info=True)


class AuditProcess:
    """``write_batch`` for ``AuditWriter``: sends the batch to the child and waits for its commit.
    A child that died is started again on the next batch."""

    def __init__(self, database_url: str, *, durable: bool = False):
        self.database_url = database_url
        self.durable = durable
        self._lock = threading.Lock()
        self._pipe: Connection | None = None
        self._child: multiprocessing.process.BaseProcess | None = None

    def _start(self) -> Connection:
        # spawn, not fork: the serving process has threads (event loop, audit writer, pool).
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._child = ctx.Process(target=_serve, args=(child, self.database_url, self.durable), name="evk-audit",
                                  daemon=True)
        self._child.start()
        child.close()
        self._pipe = parent
        return parent

    def start(self) -> None:
        """Start the child now (a serving worker at start-up): spawning it imports the core,
        ~1.5 s of CPU that would otherwise fall on the first audited requests."""
        with self._lock:
            if self._child is None or not self._child.is_alive():
                self._start()

    def __call__(self, events: list[dict]) -> None:
        with self._lock:
            pipe = self._pipe if self._child is not None and self._child.is_alive() else self._start()
            try:
                pipe.send_bytes(orjson.dumps(events))
                answer = pipe.recv_bytes()
            except (EOFError, OSError):
                self._child = None
                raise
        if answer != b"ok":
            raise RuntimeError(f"audit process could not write {len(events)} event(s): {answer.decode()}")

    def close(self) -> None:
        with self._lock:
            if self._pipe is not None:
                self._pipe.close()
            if self._child is not None:
                self._child.join(timeout=5)
