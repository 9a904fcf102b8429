"""History at instance, type and system level (http.html#history).

Pages are keyset pages: the next page starts strictly after the last version shown, in the
order (lastUpdated desc, type, id, version desc). New writes sort before everything already
shown, so later pages never shift while writes continue (offsets would).
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, and_, func, or_, select, true

from ehr_core.storage import schema
from ehr_core.storage.records import StoredResource


@dataclass(frozen=True)
class HistoryQuery:
    resource_type: str | None = None
    id: str | None = None
    since: int | None = None             # µs, inclusive
    at: tuple[int, int] | None = None    # µs range: versions current at some point in it
    after: tuple[int, str, str, int] | None = None   # keyset: the last version of the previous page
    count: int = 50


@dataclass(frozen=True)
class HistoryEntry:
    stored: StoredResource
    method: str


def history(conn: Connection, q: HistoryQuery, *, restrict=None) -> tuple[list[HistoryEntry], bool]:  # noqa: ANN001
    """One page of versions, newest first; second item says whether more follow.

    ``restrict`` (from the access guard) narrows to versions of resources the caller may see,
    in the query, so pages and their links never show more.
    """
    v = schema.resource_version
    conds = [] if restrict is None else [restrict(v)]
    if q.resource_type:
        conds.append(v.c.resource_type == q.resource_type)
    if q.id:
        conds.append(v.c.id == q.id)
    if q.since is not None:
        conds.append(v.c.last_updated >= q.since)
    if q.after is not None:
        lu, rt, id, ver = q.after
        conds.append(or_(
            v.c.last_updated < lu,
            and_(v.c.last_updated == lu, or_(
                v.c.resource_type > rt,
                and_(v.c.resource_type == rt, or_(
                    v.c.id > id,
                    and_(v.c.id == id, v.c.version_id < ver))))),
        ))
    if q.at is not None:
        low, high = q.at
        nxt = schema.resource_version.alias("nxt")
        next_time = (select(func.min(nxt.c.last_updated))
                     .where(and_(nxt.c.resource_type == v.c.resource_type, nxt.c.id == v.c.id,
                                 nxt.c.version_id > v.c.version_id))
                     .scalar_subquery())
        conds.append(v.c.last_updated <= high)
        conds.append(or_(next_time.is_(None), next_time > low))
    stmt = (select(v).where(and_(true(), *conds))
            .order_by(v.c.last_updated.desc(), v.c.resource_type, v.c.id, v.c.version_id.desc())
            .limit(q.count + 1))
    rows = conn.execute(stmt).all()
    entries = [HistoryEntry(StoredResource(r.resource_type, r.id, r.version_id, r.last_updated,
                                           bool(r.deleted), bytes(r.content)), r.method)
               for r in rows[: q.count]]
    return entries, len(rows) > q.count
