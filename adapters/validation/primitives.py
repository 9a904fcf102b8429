"""Checks for FHIR primitive values as they appear in JSON.

https://hl7.org/fhir/R4/datatypes.html#primitive and https://hl7.org/fhir/R4/json.html#primitive

A checker takes the parsed JSON value and returns ``None`` or a problem ``(rule, params)``; the
structure walker turns problems into issues, because only it knows the element path. Checkers
are built once per primitive type from the regexes in the R4 definitions, compiled once here.
"""
from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

Problem = tuple[str, dict[str, Any]]
Checker = Callable[[Any], "Problem | None"]

# FHIR strings may not exceed 1 MB (datatypes.html#string).
MAX_STRING_BYTES = 1024 * 1024
# Java-validator parity: below U+0020 only tab, CR and LF are allowed in any string.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_INT32 = (-2**31, 2**31 - 1)
_INTEGER_RANGES = {"integer": _INT32, "unsignedInt": (0, _INT32[1]), "positiveInt": (1, _INT32[1])}
_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}", re.ASCII)
_ASCII_SPACE = re.compile(r"\s+", re.ASCII)
_DAYS = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _wrong_kind(expected: str) -> Problem:
    return ("struct-type", {"expected": expected})


_NOT_STRING = _wrong_kind("string")
_EMPTY_STRING: Problem = ("struct-empty", {"json": '""'})


def _string_problem(value: Any, type_name: str) -> Problem | None:
    """What every string-valued primitive shares: a non-empty JSON string, no control characters."""
    if type(value) is not str:
        return _NOT_STRING
    if not value:
        return _EMPTY_STRING
    bad = _CONTROL.search(value)
    if bad:
        return ("struct-primitive-control", {"type": type_name, "char": ord(bad.group())})
    return None


def _text(type_name: str, *, limited: bool) -> Checker:
    """string, markdown, xhtml: any text. The R4 regex ``[ \\r\\n\\t\\S]+`` adds nothing beyond
    the control-character check, so it is not run."""
    def check(value: Any) -> Problem | None:
        problem = _string_problem(value, type_name)
        if problem is None and limited and len(value) > MAX_STRING_BYTES // 4:
            size = len(value.encode())
            if size > MAX_STRING_BYTES:
                return ("struct-primitive-length", {"type": type_name, "length": size})
        return problem
    return check


def _token(type_name: str, pattern: re.Pattern[str]) -> Checker:
    """code, id, uri, oid, uuid...: a single token matching the type's regex. Surrounding
    whitespace gets its own rule because it is the usual way such values go wrong."""
    def check(value: Any) -> Problem | None:
        problem = _string_problem(value, type_name)
        if problem is not None:
            return problem
        if pattern.fullmatch(value):
            return None
        if value != value.strip():
            return ("struct-primitive-whitespace", {"type": type_name, "value": value})
        return ("struct-primitive-format", {"type": type_name, "value": value})
    return check


def _real_date(value: str) -> bool:
    """The regexes accept 2024-02-30; the calendar does not."""
    if len(value) < 10:
        return True
    year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= _DAYS[month - 1]


def _temporal(type_name: str, pattern: re.Pattern[str]) -> Checker:
    """date, dateTime, instant: regex, then a real calendar day. A dateTime that would match
    with a ``Z`` appended is missing only its timezone, which is reported as such."""
    def check(value: Any) -> Problem | None:
        problem = _string_problem(value, type_name)
        if problem is not None:
            return problem
        if not pattern.fullmatch(value):
            if "T" in value and pattern.fullmatch(value + "Z"):
                return ("struct-primitive-timezone", {"type": type_name, "value": value})
            return ("struct-primitive-format", {"type": type_name, "value": value})
        if not _real_date(value):
            return ("struct-primitive-date", {"type": type_name, "value": value})
        return None
    return check


def _base64(value: Any) -> Problem | None:
    """base64Binary, natively: the R4 regex backtracks badly on megabyte payloads."""
    problem = _string_problem(value, "base64Binary")
    if problem is not None:
        return problem
    packed = _ASCII_SPACE.sub("", value) if _ASCII_SPACE.search(value) else value
    if len(packed) % 4 or not _BASE64.fullmatch(packed):
        return ("struct-primitive-format", {"type": "base64Binary", "value": _short(value)})
    return None


def _boolean(value: Any) -> Problem | None:
    return None if type(value) is bool else _wrong_kind("boolean")


def _integer(type_name: str) -> Checker:
    low, high = _INTEGER_RANGES[type_name]

    def check(value: Any) -> Problem | None:
        if type(value) is not int:      # also refuses bool, whose type is bool, not int
            return _wrong_kind("integer")
        if not low <= value <= high:
            return ("struct-primitive-range", {"type": type_name, "value": value})
        return None
    return check


def _decimal(value: Any) -> Problem | None:
    kind = type(value)
    if kind is int:
        return None
    if kind is not float:
        return _wrong_kind("number")
    if not math.isfinite(value):        # 1e400 parses to inf
        return ("struct-primitive-range", {"type": "decimal", "value": value})
    return None


def _short(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


_CALENDAR = {"date", "dateTime", "instant"}


def checker_for(type_name: str, regex: str | None) -> Checker:
    """The checker for one R4 primitive type, given its regex from the definitions.

    FHIR regexes are full-match and use Java's ASCII ``\\s``; hence ``fullmatch`` and ``re.ASCII``.
    """
    if type_name == "boolean":
        return _boolean
    if type_name in _INTEGER_RANGES:
        return _integer(type_name)
    if type_name == "decimal":
        return _decimal
    if type_name == "base64Binary":
        return _base64
    if type_name in ("string", "markdown"):
        return _text(type_name, limited=True)
    if type_name == "xhtml" or not regex:
        return _text(type_name, limited=False)
    pattern = re.compile(regex, re.ASCII)
    if type_name in _CALENDAR:
        return _temporal(type_name, pattern)
    return _token(type_name, pattern)
