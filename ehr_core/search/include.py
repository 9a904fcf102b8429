"""``_include`` and ``_revinclude`` (search.html#include), with ``:iterate`` and wildcards.

Included resources are found through the reference index (``sp_reference``), so a reference
counts exactly when it is searchable. Access control (``restrict``) narrows these queries as
it narrows the matches. The number of included resources is capped; when the cap cuts the
list the caller says so in an OperationOutcome, never silently.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from sqlalchemy import ColumnElement, Connection, and_, false, or_, select, tuple_

from ehr_core.search.query import Include, SearchRequest
from ehr_core.storage import schema
from ehr_core.storage.records import StoredResource

INCLUDE_CAP = 1000
_CHUNK = 500            # ids per IN list; keeps statements a sane size on both engines

Restrict = Callable[[object], ColumnElement[bool]]
Key = tuple[str, str]


def resolve_includes(conn: Connection, req: SearchRequest, matches: Sequence[StoredResource],
                     restrict: Restrict | None = None, *, cap: int = INCLUDE_CAP) -> tuple[list[StoredResource], bool]:
    """Resources to add with search.mode=include, and whether ``cap`` cut them short.

    Round one applies every include to the matches; each later round applies the ``:iterate``
    ones to what the previous round added, until nothing new turns up.
    """
    seen: set[Key] = {(m.resource_type, m.id) for m in matches}
    found: list[StoredResource] = []
    frontier: Sequence[StoredResource] = matches
    specs: Sequence[Include] = req.includes
    while frontier and specs:
        added: list[StoredResource] = []
        for spec in specs:
            # Duplicates of what we already have can come back too: ask for enough to fill the cap.
            limit = cap - len(found) - len(added) + len(seen) + 1
            for row in _fetch(conn, spec, frontier, restrict, limit):
                key = (row.resource_type, row.id)
                if key in seen:
                    continue
                if len(found) + len(added) >= cap:
                    found.extend(added)
                    return found, True
                seen.add(key)
                added.append(row)
        found.extend(added)
        frontier = added
        specs = [s for s in req.includes if s.iterate]
    return found, False


def _fetch(conn: Connection, spec: Include, frontier: Sequence[StoredResource], restrict: Restrict | None,
           limit: int) -> list[StoredResource]:
    r = schema.resource.alias("r")
    ref = schema.sp_reference.alias("ref")
    if spec.reverse:
        anchors = [m for m in frontier if spec.target_type in (None, m.resource_type)]
        link = [_keys_test(ref.c.target_type, ref.c.target_id, anchors)]
        if spec.source_type is not None:
            link.append(ref.c.resource_type == spec.source_type)
        wanted = tuple_(r.c.resource_type, r.c.id).in_(select(ref.c.resource_type, ref.c.resource_id).where(
            *link, *_param_test(ref, spec)))
    else:
        anchors = [m for m in frontier if spec.source_type in (None, m.resource_type)]
        link = [_keys_test(ref.c.resource_type, ref.c.resource_id, anchors)]
        if spec.target_type is not None:
            link.append(ref.c.target_type == spec.target_type)
        wanted = tuple_(r.c.resource_type, r.c.id).in_(select(ref.c.target_type, ref.c.target_id).where(
            *link, ref.c.target_id.is_not(None), *_param_test(ref, spec)))
    if not anchors:
        return []
    conds = [wanted, r.c.deleted == false()]
    if restrict is not None:
        conds.append(restrict(r))
    stmt = (select(r.c.resource_type, r.c.id, r.c.version_id, r.c.last_updated, r.c.content)
            .where(*conds).order_by(r.c.resource_type, r.c.id).limit(limit))
    return [StoredResource(x.resource_type, x.id, x.version_id, x.last_updated, False, bytes(x.content))
            for x in conn.execute(stmt)]


def _param_test(ref, spec: Include) -> list[ColumnElement[bool]]:  # noqa: ANN001
    if spec.param is None:
        return []
    if spec.reverse:      # (type, param, target_id) is the index to use
        return [ref.c.param == spec.param]
    # Forward: the anchors' own rows, through (type, resource_id). "|| ''" keeps the planner from
    # scanning every row of the parameter through (type, param, ...) instead (see ordering).
    return [ref.c.param.concat("") == spec.param]


def _keys_test(type_col, id_col, resources: Iterable[StoredResource]) -> ColumnElement[bool]:  # noqa: ANN001
    by_type: dict[str, list[str]] = {}
    for m in resources:
        by_type.setdefault(m.resource_type, []).append(m.id)
    branches = [and_(type_col == t, id_col.in_(ids[i:i + _CHUNK]))
                for t, ids in sorted(by_type.items()) for i in range(0, len(ids), _CHUNK)]
    return or_(*branches) if branches else false()
