"""A serving process's heap after start-up, out of the garbage collector's way.

Start-up builds ~200k long-lived objects (the R4 definitions, the validator's and the search
parameters' tables, the national profiles). Every full collection walked all of them: ~120 ms
of a stopped worker each time the allocation count of requests triggered one, which is what the
slowest 1 % of requests waited for. ``gc.freeze()`` moves what exists now to a generation the
collector never scans (https://docs.python.org/3/library/gc.html#gc.freeze); what requests
allocate is collected as before. Called once per serving process, never in tests (frozen
objects of a test's discarded services would stay for the whole run).
"""
from __future__ import annotations

import gc


def settle(service) -> None:  # noqa: ANN001
    """Once the serving process is built: start what it runs beside requests, then freeze."""
    guard = service.handler.guard
    if guard.audit_process is not None and guard.audit_enabled:
        guard.audit_process.start()
    gc.collect()
    gc.freeze()
