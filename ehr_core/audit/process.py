"""The audit writer's database work in a process of its own.

Writing an AuditEvent is a whole FHIR create (index extraction, ~20 index rows): about half a
millisecond of CPU each, and a search that returns twenty patients' records leaves twenty. In
the serving process that work holds the GIL against the requests; here it runs on another core
and the serving process only ships the events (JSON over a pipe) and waits for the commit with
the GIL released. The group commit, retries and ``EVK_AUDIT_SYNC`` semantics of
``writer.AuditWriter`` are unchanged: this is only its ``write_batch``.
"""
from __future__ import annotations

import logging
import multiprocessing
import threading
from multiprocessing.connection import Connection

import orjson

log = logging.getLogger(__name__)

__all__ = ["AuditProcess"]


def _serve(pipe: Connection, database_url: str) -> None:
    """The child: write each batch in one transaction, answer the number written or the error."""
    from ehr_core.audit import trail
    from ehr_core.storage.engine import make_engine
    from ehr_core.storage.repository import Repository

    repo = Repository(make_engine(database_url))
    stats = trail.AuditStats()
    while True:
        try:
            message = pipe.recv_bytes()
        except EOFError:    # the serving process is gone
            return
        try:
            events = orjson.loads(message)
            with repo.session(write=True) as s:
                trail.write(s, events, stats)
            pipe.send_bytes(b"ok")
        except Exception as exc:   # noqa: BLE001 - reported to the parent, which retries and logs
            pipe.send_bytes(b"error: " + repr(exc).encode())


class AuditProcess:
    """``write_batch`` for ``AuditWriter``: sends the batch to the child and waits for its commit.
    A child that died is started again on the next batch."""

    def __init__(self, database_url: str):
        self.database_url = database_url
        self._lock = threading.Lock()
        self._pipe: Connection | None = None
        self._child: multiprocessing.process.BaseProcess | None = None

    def _start(self) -> Connection:
        # spawn, not fork: the serving process has threads (event loop, audit writer, pool).
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        self._child = ctx.Process(target=_serve, args=(child, self.database_url), name="evk-audit", daemon=True)
        self._child.start()
        child.close()
        self._pipe = parent
        return parent

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
