"""The audit writer for accesses that cannot share their own transaction: reads on SQLite
(a read transaction must not turn into a writer) and refusals (their transaction rolls back).

A background thread writes whatever has been queued in one transaction (group commit: the
busier the server, the larger each batch, the cheaper each event; when nobody waits it lingers
20 ms for company). By default the response
does not wait: the event is committed a few milliseconds later, well within the second that
rule 24 allows, and the request pays only for building it. ``EVK_AUDIT_SYNC=1`` makes every
request wait for its events' commit instead (durable before the answer leaves, at the price
of one small transaction per request when the server is idle). Pending events are flushed at
exit; a batch that cannot be written is retried, then logged loudly and counted.
"""
from __future__ import annotations

import atexit
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

__all__ = ["AuditWriter"]


class AuditWriter:
    def __init__(self, write_batch: Callable[[list[dict]], None], *, sync: bool = False, retries: int = 3,
                 linger: float = 0.02):
        self._write_batch = write_batch
        self.sync = sync
        self.retries = retries
        # How long the writer waits for more events before committing (nobody is waiting):
        # one transaction per ~20 ms instead of one per request keeps the cost per event low
        # even when requests come one at a time.
        self.linger = linger
        self.failed_events = 0
        self._cv = threading.Condition()
        self._queue: list[tuple[list[dict], threading.Event | None]] = []
        self._thread: threading.Thread | None = None
        self._busy = False

    def submit(self, events: list[dict], *, wait: bool | None = None) -> None:
        wait = self.sync if wait is None else wait
        done = threading.Event() if wait else None
        with self._cv:
            self._queue.append((events, done))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="evk-audit-writer", daemon=True)
                self._thread.start()
                atexit.register(self.flush)
            # Wake the writer only when it has something new to decide: the first event of a
            # batch, or someone waiting. Waking it for every event while it lingers costs a GIL
            # hand-off per request (measured: most of the audit's cost on a busy read path).
            if len(self._queue) == 1 or done is not None:
                self._cv.notify()
        if done is not None:
            done.wait(timeout=30)

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        if self._thread is None:
            return
        self.submit([], wait=True)
        deadline = time.monotonic() + timeout
        with self._cv:
            while (self._queue or self._busy) and time.monotonic() < deadline:
                self._cv.wait(0.01)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._queue:
                    self._cv.wait()
                if self.linger and not any(done is not None for _, done in self._queue):
                    deadline = time.monotonic() + self.linger
                    while time.monotonic() < deadline and not any(d is not None for _, d in self._queue):
                        self._cv.wait(deadline - time.monotonic())
                batch, self._queue = self._queue, []
                self._busy = True
            events = [e for evs, _ in batch for e in evs]
            try:
                if events:
                    self._write(events)
            finally:
                for _, done in batch:
                    if done is not None:
                        done.set()
                with self._cv:
                    self._busy = False
                    self._cv.notify_all()

    def _write(self, events: list[dict]) -> None:
        for attempt in range(self.retries):
            try:
                self._write_batch(events)
                return
            except Exception:   # noqa: BLE001 - a database hiccup must not lose the trail silently
                if attempt == self.retries - 1:
                    self.failed_events += len(events)
                    log.exception("could not write %d AuditEvent(s) after %d attempts", len(events), self.retries)
                    return
                time.sleep(0.2 * (attempt + 1))
