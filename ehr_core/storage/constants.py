"""Lists of constants written into SQL text, for the statements every request runs.

``column.in_([...])`` binds an "expanding" parameter that SQLAlchemy re-renders on every
execution, even from its compiled cache: for the 21 directory types of a system client's read
that was ~0.1 ms per read by id on PostgreSQL (py-spy). Names that come from the definitions
(resource types, search parameter names, configured codes) are known when the statement is
built, so they go into the SQL text once, checked against a conservative alphabet; anything
else keeps its bound parameters.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import ColumnElement, String, false, literal_column

_SAFE = re.compile(r"[A-Za-z0-9_.:/-]+")


def _safe(value: object) -> bool:
    return type(value) is str and _SAFE.fullmatch(value) is not None


def checked(values: Iterable[str]) -> tuple[str, ...]:
    """``values`` if every one is safe to write into SQL text between quotes, else ValueError."""
    values = tuple(values)
    bad = [v for v in values if not _safe(v)]
    if bad:
        raise ValueError(f"not a name that may be written into SQL: {bad[:3]}")
    return values


def quoted(values: Iterable[str]) -> str:
    """``'a', 'b'`` for a plain-SQL ``IN (...)``."""
    return ", ".join(f"'{v}'" for v in checked(values))


def constant_in(col: ColumnElement, values: Iterable[str]) -> ColumnElement[bool]:
    """``col IN ('a', 'b', ...)`` with the values in the SQL text: compiled once, never re-rendered."""
    values = sorted(set(values))
    if not values:
        return false()
    if not all(_safe(v) for v in values):
        return col.in_(values)
    if len(values) == 1:
        return col == literal_column(f"'{values[0]}'", String)
    return col.in_([literal_column(f"'{v}'", String) for v in values])
