"""Run a ``SearchRequest``: matches in order, one page, the total, and included resources.

https://hl7.org/fhir/R4/search.html. The page is read with keyset paging (see ``ordering`` and
``cursor``); ``_total`` is counted with the same conditions, never from the page. Access
control arrives as ``restrict``: a callable that, given the resource table alias, returns a SQL
condition ANDed into the matches, the count and the includes alike, so counts and pages never
reveal what the caller may not see.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from sqlalchemy import ColumnElement, Connection, func, select

from ehr_core import errors
from ehr_core.errors import Issue
from ehr_core.search import cursor as cursors
from ehr_core.search import ordering, sql
from ehr_core.search.include import INCLUDE_CAP, resolve_includes
from ehr_core.search.query import SearchRequest, compartment_types, parse_search
from ehr_core.storage import schema
from ehr_core.storage.records import StoredResource

Restrict = Callable[[object], ColumnElement[bool]]

__all__ = ["SearchResult", "execute_search", "find_matches"]


@dataclass
class SearchResult:
    request: SearchRequest
    matches: list[StoredResource] = field(default_factory=list)
    includes: list[StoredResource] = field(default_factory=list)
    total: int | None = None
    next_cursor: str | None = None          # encoded, for the ``next`` link
    previous_cursor: str | None = None      # encoded, for the ``previous`` link
    issues: list[Issue] = field(default_factory=list)   # warnings to report with search.mode=outcome


def conditions(r, req: SearchRequest, restrict: Restrict | None = None, *,  # noqa: ANN001
               correlate_ranges: bool = False) -> list[ColumnElement[bool]]:
    """Everything a row of resource alias ``r`` must meet to match ``req``. ``correlate_ranges``:
    see ``sql`` (SQLite only: PostgreSQL plans the IN form as a semi-join from its statistics)."""
    anchored = correlate_ranges and (req.compartment is not None or any(sql.anchors(f) for f in req.filters))
    conds = [*sql.live(r, req.types),
             *(sql.filter_clause(r, req.types, f, restrict, anchored=anchored) for f in req.filters)]
    if req.compartment is not None:
        members = compartment_types(req.compartment[0])
        conds.append(sql.compartment_clause(r, req.types, req.compartment, members, req.supporting))
    if restrict is not None:
        conds.append(restrict(r))
    return conds


# One alias for the matched rows of every search, built once (aliases are immutable): clauses
# built against it, such as a system client's access narrowing, can then be kept and reused.
_MATCH = schema.resource.alias("r")
_MATCH.c  # noqa: B018 - populate the column collection now, not racily on first use


def execute_search(conn: Connection, req: SearchRequest, *, restrict: Restrict | None = None,
                   include_cap: int = INCLUDE_CAP) -> SearchResult:
    r = _MATCH
    where = conditions(r, req, restrict, correlate_ranges=conn.dialect.name == "sqlite")
    result = SearchResult(req, issues=list(req.warnings))
    if req.total != "none":
        result.total = conn.execute(select(func.count()).select_from(r).where(*where)).scalar_one()
    if not req.wants_entries:
        return result
    _read_page(conn, req, r, where, result)
    if req.includes:
        result.includes, capped = resolve_includes(conn, req, result.matches, restrict, cap=include_cap)
        if capped:
            result.issues.append(Issue(
                "warning", "too-costly",
                f"Only the first {include_cap} included resources are returned; more resources match the "
                f"_include/_revinclude parameters. Use a smaller _count to get all of them page by page."))
    return result


def _read_page(conn: Connection, req: SearchRequest, r, where: list, result: SearchResult) -> None:  # noqa: ANN001
    keys = ordering.order_keys(r, req)
    cur = req.cursor
    backward = cur is not None and cur.direction == cursors.BACKWARD
    if cur is not None:
        where = [*where, ordering.after(keys, cur)]
    labels = [k.expr.label(f"k{i}") for i, k in enumerate(keys)]
    # ORDER BY the labels, so each sort subquery runs once per row, not once more for the sort.
    by_label = [ordering.OrderKey(label, k.descending, k.nullable) for label, k in zip(labels, keys)]
    stmt = (select(r.c.resource_type, r.c.id, r.c.version_id, r.c.last_updated, r.c.content, *labels)
            .where(*where).order_by(*ordering.order_by(by_label, backward=backward)).limit(req.count + 1))
    rows = conn.execute(stmt).all()
    more = len(rows) > req.count
    rows = rows[: req.count]
    if backward:
        rows.reverse()
    result.matches = [StoredResource(x.resource_type, x.id, x.version_id, x.last_updated, False, bytes(x.content))
                      for x in rows]
    if not rows:
        return
    first = tuple(getattr(rows[0], f"k{i}") for i in range(len(keys)))
    last = tuple(getattr(rows[-1], f"k{i}") for i in range(len(keys)))
    fingerprint = req.order_fingerprint
    has_next = more if not backward else True
    has_previous = cur is not None if not backward else more
    if has_next:
        result.next_cursor = cursors.encode(cursors.Cursor(cursors.FORWARD, last, fingerprint))
    if has_previous:
        result.previous_cursor = cursors.encode(cursors.Cursor(cursors.BACKWARD, first, fingerprint))


def find_matches(conn: Connection, resource_type: str, params: list[tuple[str, str]] | str, *,
                 limit: int = 2, restrict: Restrict | None = None) -> list[tuple[str, str]]:
    """(type, id) of up to ``limit`` current matches, for conditional create/update/delete and
    conditional references (http.html#cond-update). Unknown parameters are an error here: ignoring
    one would widen the condition and could update or delete the wrong resource.
    """
    if isinstance(params, str):
        params = parse_qsl(params.split("?", 1)[-1], keep_blank_values=True)
    req = parse_search(resource_type, list(params), strict=True)
    if not req.filters:
        raise errors.bad_request(f"The condition on {resource_type} has no search criteria")
    req.count, req.total, req.includes, req.sort, req.cursor = limit, "none", (), (), None
    result = execute_search(conn, req, restrict=restrict)
    return [(m.resource_type, m.id) for m in result.matches]
