"""Search values: the typed form of one parameter value, parsed from its URL text (query side).

https://hl7.org/fhir/R4/search.html#ptypes — each parameter type has its own value grammar:
prefixes for number/date/quantity (#prefix), ``system|code`` for tokens (#token),
``value|system|code`` for quantities (#quantity), ``Type/id`` or URLs for references
(#reference) and ``$``-joined components for composites (#composite). Escaping of ``\\,``,
``\\|``, ``\\$`` and ``\\\\`` follows #escaping. A value that does not fit its grammar is a 400.
(The write side's counterpart, stored row values, is ``indexvalues``.)
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ehr_core import errors
from ehr_core.search.normalize import DateFormatError, date_range, reference_parts

PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")
ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_DECIMAL_RE = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


@dataclass(frozen=True)
class TokenValue:
    """``code`` (system None: any), ``|code`` (system ''), ``system|code``, ``system|`` (code None)."""
    system: str | None
    code: str | None


@dataclass(frozen=True)
class OfTypeValue:
    """Identifier ``:of-type`` value: ``type-system|type-code|identifier-value``."""
    system: str
    code: str
    value: str


@dataclass(frozen=True)
class DateValue:
    """A date with its prefix and the inclusive range its precision covers, epoch seconds."""
    prefix: str
    low: float
    high: float


@dataclass(frozen=True)
class NumberValue:
    """A decimal with its prefix; [low, high) is the range implied by its precision (#number)."""
    prefix: str
    value: float
    low: float
    high: float


@dataclass(frozen=True)
class QuantityValue:
    number: NumberValue
    system: str | None          # None: any system
    code: str | None            # None: any unit


@dataclass(frozen=True)
class ReferenceValue:
    """``id``, ``Type/id``, or an absolute/canonical ``url`` (search.html#reference)."""
    type: str | None = None
    id: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class CompositeValue:
    parts: tuple[object, ...]   # one parsed value per component, in definition order


# --- escaping (search.html#escaping) -----------------------------------------------------------

def split_escaped(text: str, sep: str, maxsplit: int = -1) -> list[str]:
    """Split at ``sep`` not preceded by a backslash; pieces keep their escapes."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            current.append(text[i:i + 2])
            i += 2
            continue
        if ch == sep and maxsplit != 0:
            parts.append("".join(current))
            current = []
            maxsplit -= 1
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts


def unescape(text: str) -> str:
    return re.sub(r"\\([,|$\\])", r"\1", text)


# --- per type ----------------------------------------------------------------------------------

def _prefix(text: str) -> tuple[str, str]:
    if len(text) > 2 and text[:2] in PREFIXES:
        return text[:2], text[2:]
    return "eq", text


def parse_date(text: str, code: str) -> DateValue:
    prefix, rest = _prefix(text)
    try:
        low, high = date_range(rest)
    except DateFormatError:
        raise errors.bad_request(
            f"Search parameter {code}: {text!r} is not a date (expected [prefix]YYYY[-MM[-DD[Thh:mm[:ss][zone]]]], "
            f"prefix one of {', '.join(PREFIXES)})", code="value") from None
    return DateValue(prefix, low, high)


def parse_number(text: str, code: str) -> NumberValue:
    """The precision range of ``100`` is [99.5, 100.5), of ``100.00`` [99.995, 100.005)."""
    prefix, rest = _prefix(text)
    if not _DECIMAL_RE.fullmatch(rest):
        raise errors.bad_request(f"Search parameter {code}: {text!r} is not a number (expected [prefix]decimal)",
                                 code="value")
    try:
        d = Decimal(rest)
    except InvalidOperation:   # pragma: no cover - the regex admits only valid decimals
        raise errors.bad_request(f"Search parameter {code}: {text!r} is not a number", code="value") from None
    half = Decimal(5).scaleb(d.as_tuple().exponent - 1)
    return NumberValue(prefix, float(d), float(d - half), float(d + half))


def parse_quantity(text: str, code: str) -> QuantityValue:
    parts = [unescape(p) for p in split_escaped(text, "|")]
    if len(parts) > 3:
        raise errors.bad_request(f"Search parameter {code}: {text!r} is not [prefix]number|system|code",
                                 code="value")
    number = parse_number(parts[0], code)
    if len(parts) == 1:
        return QuantityValue(number, None, None)
    if len(parts) == 2:          # "5.4|mg": tolerated as a unit without a system
        return QuantityValue(number, None, parts[1] or None)
    return QuantityValue(number, parts[1] or None, parts[2] or None)


def parse_token(text: str) -> TokenValue:
    parts = split_escaped(text, "|", maxsplit=1)
    if len(parts) == 1:
        return TokenValue(None, unescape(parts[0]))
    return TokenValue(unescape(parts[0]), unescape(parts[1]) or None)


def parse_of_type(text: str, code: str) -> OfTypeValue:
    parts = [unescape(p) for p in split_escaped(text, "|")]
    if len(parts) != 3 or not all(parts):
        raise errors.bad_request(f"Search parameter {code}:of-type needs system|code|value, got {text!r}",
                                 code="value")
    return OfTypeValue(*parts)


def parse_reference(text: str, code: str, *, type_modifier: str | None = None) -> ReferenceValue:
    """``123``, ``Patient/123``, ``http://other/fhir/Patient/123`` or a canonical ``url|version``.

    Parsed with the write side's ``reference_parts``, so both agree on what is a type, an id
    and a URL. An absolute URL is matched as the stored URL (which is kept without version).
    """
    value = unescape(text)
    if ID_RE.match(value):
        return ReferenceValue(type_modifier, value)
    rt, rid, url = reference_parts(value)
    if url is None and value.startswith("urn:") and not value.startswith("urn:uuid:"):
        url = value
    if url is not None:
        return ReferenceValue(url=url if "://" not in url else url.split("|", 1)[0])
    if rt is not None:
        if type_modifier and rt != type_modifier:
            raise errors.bad_request(f"Search parameter {code}:{type_modifier}: {value!r} names another type",
                                     code="value")
        return ReferenceValue(rt, rid)
    raise errors.bad_request(f"Search parameter {code}: {value!r} is not an id, Type/id or absolute URL",
                             code="value")


def parse_missing(text: str, code: str) -> bool:
    if text not in ("true", "false"):
        raise errors.bad_request(f"Search parameter {code}:missing takes true or false, got {text!r}",
                                 code="value")
    return text == "true"


def parse_value(kind: str, text: str, code: str) -> object:
    """One OR-alternative of a parameter value, for the simple (non-composite) types."""
    if kind in ("string", "uri"):
        return unescape(text)
    if kind == "token":
        return parse_token(text)
    if kind == "date":
        return parse_date(text, code)
    if kind == "number":
        return parse_number(text, code)
    if kind == "quantity":
        return parse_quantity(text, code)
    if kind == "reference":
        return parse_reference(text, code)
    raise errors.bad_request(f"Search parameter {code} has type {kind}, which this server cannot search",
                             code="not-supported")


def parse_composite(text: str, code: str, component_types: tuple[str, ...]) -> CompositeValue:
    pieces = split_escaped(text, "$")
    if len(pieces) != len(component_types):
        raise errors.bad_request(f"Search parameter {code} needs {len(component_types)} components joined by $, "
                                 f"got {text!r}", code="value")
    return CompositeValue(tuple(parse_value(t, p, code) for t, p in zip(component_types, pieces)))
