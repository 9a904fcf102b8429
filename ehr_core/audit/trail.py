"""Collects the accesses of one unit of work and writes their AuditEvents (rule 22).

One AuditEvent per patient touched: the guard adds each decision to the trail of the
``Session`` it runs in; a transaction Bundle's entries therefore share one event per patient.
Each is appended to the audit journal as one compact row (``journal.entry``); the AuditEvent
resource is projected from it later (``ehr_core/audit/journal.py`` says when and why).
When the rows are written:
- a unit of work that commits and writes (create, update, delete, transaction Bundles, POST
  operations): just before its commit, in the same transaction — the audit is exactly as
  durable as the data, and costs no extra round trip;
- a read (on SQLite its read transaction must not turn into a writer: a snapshot taken
  before another writer's commit cannot be upgraded; on both engines one small transaction
  per read would double its cost), and every refusal or failure (its transaction rolls
  back): once the unit of work has closed, through ``writer.AuditWriter``
  (group commit in a background thread; committed milliseconds later, or before the response
  with ``EVK_AUDIT_SYNC=1``). Rule 24 asks for "within a second".
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ehr_core.audit import journal
from ehr_core.audit.event import Access, Actor
from ehr_core.storage.records import now_micros


__all__ = ["AuditTrail", "AuditStats"]


@dataclass
class AuditStats:
    events: int = 0
    seconds: float = 0.0
    failures: int = 0


@dataclass
class AuditTrail:
    actor: Actor
    server: str
    accesses: dict[tuple, Access] = field(default_factory=dict)
    committed: bool = False

    def add(self, access: Access) -> Access:
        """Merge into the event for the same patient, relation and outcome."""
        key = (access.patient_id, access.relation, access.outcome)
        found = self.accesses.get(key)
        if found is None:
            self.accesses[key] = access
            return access
        found.interactions += [i for i in access.interactions if i not in found.interactions]
        found.entities += access.entities
        found.break_glass = found.break_glass or access.break_glass
        if access.query is not None and found.query is None:
            found.query = access.query
        return found

    def events(self, *, failures_only: bool = False) -> list[dict]:
        """The journal rows of this unit of work's accesses."""
        recorded = now_micros()
        return [journal.entry(self.actor, a, self.server, recorded)
                for a in self.accesses.values() if not failures_only or a.outcome != "0"]

    def mark_failed(self, status: int, description: str) -> None:
        for a in self.accesses.values():
            if a.outcome == "0":
                a.outcome = "8" if status >= 500 else "4"
                a.description = description


def attach(session, trail_factory: Callable[[], AuditTrail], writer, stats: AuditStats,  # noqa: ANN001
           *, same_transaction: bool) -> AuditTrail:
    """The trail of ``session``, created and hooked on first use."""
    trail = getattr(session, "audit_trail", None)
    if trail is not None:
        return trail
    trail = trail_factory()
    session.audit_trail = trail

    def before_commit(s) -> None:  # noqa: ANN001
        if same_transaction and trail.accesses:
            write(s, trail.events(), stats)
            trail.committed = True

    def after_close(committed: bool) -> None:
        if not trail.accesses or (committed and trail.committed):
            return
        events = trail.events(failures_only=not committed)
        if events:
            writer.submit(events)

    session.before_commit.append(before_commit)
    session.after_close.append(after_close)
    return trail


def write(s, rows: list[dict], stats: AuditStats) -> None:  # noqa: ANN001
    """Append journal rows inside the unit of work ``s`` (buffered with its other inserts)."""
    t0 = time.perf_counter()
    for row in rows:
        s.insert_later("audit_journal", row)
    stats.events += len(rows)
    stats.seconds += time.perf_counter() - t0


def append_batch(repo, rows: list[dict], stats: AuditStats, *, durable: bool) -> None:  # noqa: ANN001
    """The audit writer's batch in a unit of work of its own. Not ``durable`` (the default: the
    response did not wait for it), PostgreSQL commits it without waiting for the WAL flush, as
    SQLite's ``synchronous=NORMAL`` does for everything: a crash of the database server or the
    machine could lose the last fraction of a second of read audits, never corrupt them, and the
    flush no longer costs every batch a disk sync (PostgreSQL, 200k resources, read by id from 8
    clients with audit on: 668 -> 858 requests/s; 934 with audit off).
    ``EVK_AUDIT_SYNC=1`` keeps every batch durable before the response leaves."""
    with repo.session(write=True) as s:
        if not durable and not s.sqlite:
            s.conn.exec_driver_sql("SET LOCAL synchronous_commit = off")
        write(s, rows, stats)
