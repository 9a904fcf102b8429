"""Result order and keyset paging (search.html#sort, http.html#paging).

Sort keys are correlated scalar subqueries on the index: a string sorts on its smallest
normalised value (largest when descending), a date on its low bound, a token on its code,
a number/quantity on its low bound. Rows without a value sort last in either direction. The
resource type and id always end the order, so it is total and a cursor identifies a position.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, func, or_, select

from ehr_core import errors
from ehr_core.search.cursor import BACKWARD, Cursor
from ehr_core.search.query import SearchRequest, SortKey
from ehr_core.storage import schema

_SORT_COLUMN = {"string": "value_norm", "token": "code", "date": "low", "number": "low",
                "quantity": "low", "uri": "uri", "reference": "target_id"}


@dataclass(frozen=True)
class OrderKey:
    expr: ColumnElement
    descending: bool
    nullable: bool


def order_keys(r, req: SearchRequest) -> list[OrderKey]:  # noqa: ANN001
    keys = [OrderKey(_sort_expression(r, k), k.descending, k.code not in ("_id", "_lastUpdated"))
            for k in req.sort]
    if len(req.types) > 1:
        keys.append(OrderKey(r.c.resource_type, False, False))
    keys.append(OrderKey(r.c.id, False, False))
    return keys


def _sort_expression(r, key: SortKey) -> ColumnElement:  # noqa: ANN001
    if key.code == "_id":
        return r.c.id
    if key.code == "_lastUpdated":
        return r.c.last_updated
    t = schema.INDEX_TABLES[key.type].alias()
    aggregate = func.max if key.descending else func.min
    column = t.c[_SORT_COLUMN[key.type]]
    # One resource's values are read through the (type, resource_id) index. Wrapping the
    # columns ("+ 0", "|| ''") stops both planners from preferring the (type, param, value)
    # index instead — a scan of every row of the parameter, per result row: PostgreSQL rewrites
    # min()/max() into a backward scan of it, SQLite without statistics ties the two indexes.
    value = column.concat("") if key.type in ("string", "token", "uri", "reference") else column + 0
    return (select(aggregate(value))
            .where(t.c.resource_type == r.c.resource_type, t.c.resource_id == r.c.id,
                   t.c.param.concat("") == key.code)
            .scalar_subquery())


def order_by(keys: list[OrderKey], *, backward: bool = False) -> list:
    """ORDER BY terms; a backward page reads the same order in reverse."""
    out = []
    for k in keys:
        descending = k.descending != backward
        term = k.expr.desc() if descending else k.expr.asc()
        out.append((term.nulls_first() if backward else term.nulls_last()) if k.nullable else term)
    return out


def after(keys: list[OrderKey], cursor: Cursor) -> ColumnElement[bool]:
    """Rows strictly after (FORWARD) or before (BACKWARD) the cursor's position in the order.

    Expanded form of a row-value comparison ``(k1, k2, ...) > (v1, v2, ...)``, which mixed
    directions and NULLs rule out: OR over i of (k1 = v1 AND ... AND k(i-1) = v(i-1) AND ki beyond vi).
    """
    if len(cursor.keys) != len(keys):
        raise errors.bad_request("_cursor does not fit this search; start again from the first page")
    backward = cursor.direction == BACKWARD
    branches, equal_so_far = [], []
    for k, v in zip(keys, cursor.keys):
        branches.append(and_(*equal_so_far, _beyond(k, v, backward)))
        equal_so_far.append(k.expr.is_(None) if v is None else k.expr == v)
    return or_(*branches)


def _beyond(k: OrderKey, v: object, backward: bool) -> ColumnElement[bool]:
    """``k`` comes after ``v`` in the scan direction; NULLs are last going forward."""
    if v is None:
        # Forward: nothing follows NULL. Backward: every value precedes NULL.
        return k.expr.is_not(None) if backward else false()
    use_less = k.descending != backward
    cmp = k.expr < v if use_less else k.expr > v
    if k.nullable and not backward:
        return or_(cmp, k.expr.is_(None))
    return cmp
