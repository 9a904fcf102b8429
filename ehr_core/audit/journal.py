"""The audit journal: accesses are appended as compact rows; AuditEvents are projected from them.

Why: an AuditEvent is a 2 KB FHIR resource with a version row and about twenty search index
rows (~0.3-0.5 ms of CPU and 5 KB written), and a search returning twenty patients' records
leaves twenty of them. The patient's audit view is read far less often than the record is
accessed, so the request pays only for one journal row per patient touched (the actor and the
access exactly as recorded, ~400 bytes, in the request's own transaction or the audit writer's
group commit), and the AuditEvent resource is built from that row later, deterministically,
under the id and recorded time the row already carries:

- on demand: before a request that can see AuditEvents opens its unit of work
  (``Projection.before``: a search or read of AuditEvent, a system-level search or history,
  a query naming AuditEvent in ``_include``/``_revinclude``/``_has``/``_type``, a Bundle entry
  doing any of these, or an operation that reads the trail such as the break-glass review).
  A search naming its patients projects only theirs;
- in the background, when the server is idle (the audit process, ``ehr_core/audit/process.py``).

A row leaves the journal in the transaction that stores its AuditEvent (``DELETE ...
RETURNING``), so concurrent projectors never store an event twice and a crash loses nothing.
The trail is exactly as durable as before; ``meta.lastUpdated`` is when the AuditEvent entered
the FHIR store, ``recorded`` when the access happened.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson
from sqlalchemy import delete, select

from ehr_core.access.schema import audit_journal as J
from ehr_core.audit.event import Access, Actor, audit_event
from ehr_core.rest.messages import FhirRequest
from ehr_core.storage.engine import is_sqlite
from ehr_core.storage.records import instant
from ehr_core.storage.repository import Repository, Session, new_id

__all__ = ["entry", "entry_for_event", "project", "Projection"]

TYPE = "AuditEvent"
# Operations whose answer is read from the trail (they run after the guard; projected first).
READS_TRAIL = frozenset({"$break-glass-review"})
# Query parameters that can bring AuditEvents into another type's result.
_INCLUDING = ("_include", "_revinclude", "_has", "_type")
CHUNK = 500


def entry(actor: Actor, access: Access, server: str, recorded: int) -> dict:
    """The journal row of one access (orjson writes the dataclasses as objects)."""
    return {"id": new_id(), "patient_id": access.patient_id or None, "recorded": recorded,
            "body": orjson.dumps({"actor": actor, "access": access, "server": server}).decode()}


def entry_for_event(event: dict, recorded: int, patient_id: str | None = None) -> dict:
    """The journal row of an AuditEvent built elsewhere (accesses that concern no patient)."""
    return {"id": new_id(), "patient_id": patient_id, "recorded": recorded,
            "body": orjson.dumps({"event": event}).decode()}


def _event(row) -> dict:  # noqa: ANN001
    body = orjson.loads(row.body)
    if "event" in body:
        return body["event"]
    return audit_event(Actor(**body["actor"]), Access(**body["access"]), recorded=instant(row.recorded),
                       server=body["server"])


def _narrowed(patients: Iterable[str] | None, ids: Iterable[str] | None) -> list:
    cond = []
    if patients is not None:
        cond.append(J.c.patient_id.in_(sorted(set(patients))))
    if ids is not None:
        cond.append(J.c.id.in_(sorted(set(ids))))
    return cond


def project_in(s: Session, *, patients: Iterable[str] | None = None, ids: Iterable[str] | None = None,
               limit: int | None = None) -> int:
    """Move journal rows into the FHIR store as AuditEvents, inside the write unit of work ``s``.
    ``patients``/``ids`` narrow which rows; ``limit`` caps how many (oldest first)."""
    cond = _narrowed(patients, ids)
    stmt = delete(J).where(*cond)
    if limit is not None:
        oldest = select(J.c.id).where(*cond).order_by(J.c.id).limit(limit)
        stmt = delete(J).where(J.c.id.in_(oldest.scalar_subquery()))
    rows = s.conn.execute(stmt.returning(J.c.id, J.c.recorded, J.c.body)).all()
    for row in sorted(rows, key=lambda r: r.id):
        s.create(_event(row), id=row.id)
    return len(rows)


def project(repo: Repository, *, patients: Iterable[str] | None = None, ids: Iterable[str] | None = None,
            limit: int | None = None) -> int:
    """``project_in`` in a unit of work of its own; returns how many AuditEvents were stored."""
    with repo.session(write=True) as s:
        return project_in(s, patients=patients, ids=ids, limit=limit)


@dataclass(frozen=True)
class Scope:
    patients: tuple[str, ...] | None = None      # None with ids None: everything pending
    ids: tuple[str, ...] | None = None


def scope(req: FhirRequest) -> Scope | None:
    """What must be projected before ``req`` can be answered truthfully; None for nothing."""
    seg = req.segments
    if not seg:
        if req.method == "POST" and isinstance(req.body, dict):
            entries = req.body.get("entry")
            urls = [e.get("request", {}).get("url", "") for e in entries if isinstance(e, dict)
                    and isinstance(e.get("request"), dict)] if isinstance(entries, list) else []
            return Scope() if any(TYPE in str(u) or str(u).split("?")[0].strip("/") in ("", "_history")
                                  for u in urls) else None
        return _system_level(req)
    if seg[0] in ("_history", "_search") and len(seg) == 1:
        return _system_level(req)
    if seg[0] == TYPE:
        if len(seg) >= 2 and not seg[1].startswith(("$", "_")):
            return Scope(ids=(seg[1],))
        return _patients_named(req) or Scope()
    if seg[0] in READS_TRAIL or seg[-1] in READS_TRAIL:
        return Scope()
    if len(seg) == 3 and seg[0] == "Patient" and seg[2] == TYPE:
        return Scope(patients=(seg[1],))
    if any(name.split(":")[0] in _INCLUDING and TYPE in value or name.startswith("_has:" + TYPE)
           for name, value in req.query):
        return Scope()
    return None


def _system_level(req: FhirRequest) -> Scope | None:
    types = [t for name, value in req.query if name == "_type" for t in value.split(",")]
    return Scope() if not types or TYPE in types else None


def _patients_named(req: FhirRequest) -> Scope | None:
    """``AuditEvent?patient=a,b`` (plain ids or Patient/<id>) projects just those patients;
    a repeated or modified ``patient`` parameter, or a chain, projects everything."""
    named = [(name, value) for name, value in req.query if name.split(".")[0].split(":")[0] == "patient"]
    if len(named) != 1 or named[0][0] != "patient":
        return None
    ids = tuple(v.removeprefix("Patient/") for v in named[0][1].split(","))
    if not ids or any(not v or "/" in v for v in ids):
        return None
    return Scope(patients=ids)


class Projection:
    """The hook ``Handler.handle`` runs before opening a request's unit of work."""

    def __init__(self, repo: Repository):
        self.repo = repo

    def before(self, req: FhirRequest) -> None:
        wanted = scope(req)
        if wanted is None:
            return
        # Chunks keep each transaction short. On PostgreSQL a chunk that comes back short may
        # have lost rows to a concurrent projector (it waited for that one's commit), so the loop
        # ends only when nothing in scope is left; SQLite's writers take turns, so short means done.
        while project(self.repo, patients=wanted.patients, ids=wanted.ids, limit=CHUNK) == CHUNK \
                or self._left(wanted):
            pass

    def _left(self, wanted: Scope) -> bool:
        if is_sqlite(self.repo.engine):
            return False
        with self.repo.engine.connect() as c:
            return c.execute(select(J.c.id).where(*_narrowed(wanted.patients, wanted.ids)).limit(1)).first() is not None
