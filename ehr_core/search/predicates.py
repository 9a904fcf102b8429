"""Value tests on index rows, one function per parameter type (search.html#ptypes).

Each function returns a SQL boolean over the columns of one ``sp_*`` row; the compiler in
``sql`` wraps it in the row's subquery. Stored values and search values are ranges: a date
covers its precision, a period its start and end, a quantity with a comparator an open range
(``normalize.LOW_UNBOUNDED``/``HIGH_UNBOUNDED``), so every prefix is a comparison of two ranges.
"""
from __future__ import annotations

import time

from sqlalchemy import ColumnElement, and_, false, or_, true

from ehr_core.search.normalize import canonical_url, normalize_string
from ehr_core.search.query_values import DateValue, NumberValue, OfTypeValue, QuantityValue, ReferenceValue, TokenValue

# search.html#prefix recommends 10% of the distance to now for ``ap`` on dates, and 10% of the
# value for numbers; a date search always widens by at least a day so "ap today" finds today.
AP_FRACTION = 0.1
AP_MIN_SECONDS = 86400.0


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def starts_with(column, prefix: str) -> ColumnElement[bool]:  # noqa: ANN001
    """Prefix match that an ordinary b-tree index can serve on both engines.

    The range bounds use the index; LIKE then makes the match exact whatever the collation.
    """
    like = column.like(like_escape(prefix) + "%", escape="\\")
    if not prefix:
        return column.is_not(None)
    if ord(prefix[-1]) >= 0x10FFFF:          # no next code point to bound the range with
        return and_(column >= prefix, like)
    upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
    return and_(column >= prefix, column < upper, like)


# --- string (search.html#string) --------------------------------------------------------------

def string_match(t, modifier: str | None, text: str) -> ColumnElement[bool]:  # noqa: ANN001
    if modifier == "exact":
        return t.c.value_exact == text
    norm = normalize_string(text)
    if modifier == "contains":
        return t.c.value_norm.like("%" + like_escape(norm) + "%", escape="\\")
    return starts_with(t.c.value_norm, norm)


# --- token (search.html#token) ----------------------------------------------------------------

def token_match(system_col, code_col, value: TokenValue) -> ColumnElement[bool]:  # noqa: ANN001
    conds = []
    if value.code is not None:
        conds.append(code_col == value.code)
    if value.system == "":
        conds.append(or_(system_col.is_(None), system_col == ""))
    elif value.system is not None:
        conds.append(system_col == value.system)
    return and_(*conds) if conds else true()


def token_text_match(t, text: str) -> ColumnElement[bool]:  # noqa: ANN001
    """``:text``: the display/text starts with the words given, or has a word starting so."""
    norm = normalize_string(text)
    return or_(starts_with(t.c.text_norm, norm), t.c.text_norm.like("% " + like_escape(norm) + "%", escape="\\"))


def of_type_match(t, value: OfTypeValue) -> ColumnElement[bool]:  # noqa: ANN001
    """Rows stored under ``<code>:of-type`` carry the type system and ``<type code>|<value>``."""
    return and_(t.c.system == value.system, t.c.code == f"{value.code}|{value.value}")


# --- reference (search.html#reference) --------------------------------------------------------

def reference_match(t, value: ReferenceValue) -> ColumnElement[bool]:  # noqa: ANN001
    if value.url is not None:
        # Stored URLs carry no version (normalize.reference_parts / canonical_url), so neither does the test.
        return t.c.target_url == canonical_url(value.url).split("/_history/", 1)[0]
    conds = [t.c.target_id == value.id]
    if value.type is not None:
        conds.append(t.c.target_type == value.type)
    return and_(*conds)


# --- uri (search.html#uri) --------------------------------------------------------------------

def uri_match(column, modifier: str | None, uri: str) -> ColumnElement[bool]:  # noqa: ANN001
    if modifier == "below":
        return starts_with(column, uri)
    if modifier == "above":
        # Stored URIs that are the value itself or one of its parents at a path boundary.
        cut = [uri[:i] for i, ch in enumerate(uri) if ch == "/" and i > uri.find("://") + 2]
        return column.in_([uri, *cut])
    return column == uri


# --- ranges: date, number, quantity (search.html#prefix) ---------------------------------------

def range_compare(low, high, prefix: str, s_low: float, s_high: float, *,  # noqa: ANN001
                  ap_margin: float) -> ColumnElement[bool]:
    """Target range [low, high] against the search range [s_low, s_high] under ``prefix``.

    Definitions from search.html#prefix: eq — the search range contains the target; ne — it does
    not; gt/lt — the target reaches above/below the search range; ge/le — gt/lt or eq; sa/eb —
    the target starts after / ends before the search range; ap — the ranges overlap once the
    search range is widened by ``ap_margin``.
    """
    eq = and_(low >= s_low, high <= s_high)
    if prefix == "eq":
        return eq
    if prefix == "ne":
        return or_(low < s_low, high > s_high)
    if prefix == "gt":
        return high > s_high
    if prefix == "lt":
        return low < s_low
    if prefix == "ge":
        return or_(high > s_high, eq)
    if prefix == "le":
        return or_(low < s_low, eq)
    if prefix == "sa":
        return low > s_high
    if prefix == "eb":
        return high < s_low
    if prefix == "ap":
        return and_(low <= s_high + ap_margin, high >= s_low - ap_margin)
    return false()


def date_match(low, high, value: DateValue, *, scale: float = 1.0) -> ColumnElement[bool]:  # noqa: ANN001
    """``scale`` converts the search range to the columns' unit (1e6 for µs ``last_updated``)."""
    margin = max(AP_FRACTION * abs(time.time() - value.low), AP_MIN_SECONDS)
    s_low, s_high = value.low * scale, value.high * scale
    if scale != 1.0:
        s_low, s_high = round(s_low), round(s_high)
    return range_compare(low, high, value.prefix, s_low, s_high, ap_margin=margin * scale)


def number_match(low, high, value: NumberValue) -> ColumnElement[bool]:  # noqa: ANN001
    """search.html#number: ``100`` means [99.5, 100.5); ``gt100`` etc. compare with exactly 100."""
    p, x = value.prefix, value.value
    if p == "eq":
        return and_(low >= value.low, high < value.high)
    if p == "ne":
        return or_(low < value.low, high >= value.high)
    if p == "ap":
        margin = max(AP_FRACTION * abs(x), value.high - x)
        return and_(low <= x + margin, high >= x - margin)
    return range_compare(low, high, p, x, x, ap_margin=0.0)


def quantity_match(t, value: QuantityValue, *, system_col=None, code_col=None,  # noqa: ANN001
                   low=None, high=None) -> ColumnElement[bool]:
    system_col = t.c.system if system_col is None else system_col
    code_col = t.c.code if code_col is None else code_col
    conds = [number_match(t.c.low if low is None else low, t.c.high if high is None else high, value.number)]
    if value.code is not None:
        conds.append(code_col == value.code)
    if value.system is not None:
        conds.append(system_col == value.system)
    return and_(*conds)
