"""Index row values for one typed FHIR value, per search parameter type (search.html, R4).

Each converter takes a JSON value and yields ``(table, suffix, row)``: ``table`` is a key of
``schema.INDEX_TABLES``, ``suffix`` is appended to the parameter code (``""``, ``":of-type"``,
``":identifier"``) and ``row`` holds that table's value columns in order:

==========  ============================================================
string      (value_norm, value_exact)
token       (system, code, text_norm)
reference   (target_type, target_id, target_url)
date        (low, high)
number      (low, high)
quantity    (system, code, low, high)
uri         (uri,)
==========  ============================================================

The rules (what each FHIR type turns into) are documented on ``ehr_core.search.extract``.
Converters are chosen by the value's FHIR type, walking up its base types (``Age`` uses the
``Quantity`` converter, ``code`` the ``string`` one); a type without a converter is not indexed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import lru_cache
from typing import Any

from ehr_core import definitions
from ehr_core.search.normalize import (HIGH_UNBOUNDED, LOW_UNBOUNDED, DateFormatError, canonical_url,
                                       date_range, normalize_string, reference_parts)

Row = tuple
Converted = Iterator[tuple[str, str, Row]]
Converter = Callable[[Any], Converted]

_NUMBER = (int, float)          # JSON numbers; bool is excluded by checking __class__
CURRENCY_SYSTEM = "urn:iso:std:iso:4217"


def _text(value: Any) -> str | None:
    return (normalize_string(value) or None) if isinstance(value, str) else None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _num(value: Any) -> float | int | None:
    return value if value.__class__ in _NUMBER else None


# --- string (search.html#string) --------------------------------------------------------------

def _string(value: Any) -> Converted:
    if isinstance(value, str) and (norm := normalize_string(value)):
        yield "string", "", (norm, value)


def _parts(*names: str) -> Converter:
    def parts(value: dict) -> Converted:
        for name in names:
            part = value.get(name)
            for s in part if isinstance(part, list) else (part,):
                yield from _string(s)
    return parts


# --- token (search.html#token) ----------------------------------------------------------------

def _coding(value: dict) -> Converted:
    system, code, display = _str(value.get("system")), _str(value.get("code")), _text(value.get("display"))
    if system or code or display:
        yield "token", "", (system, code, display)


def _codeable_concept(value: dict) -> Converted:
    displays = set()
    for coding in value.get("coding") or ():
        if coding.__class__ is dict:
            for row in _coding(coding):
                displays.add(row[2][2])
                yield row
    # A text equal to a display is already findable by :text through that coding's row.
    if (text := _text(value.get("text"))) and text not in displays:
        yield "token", "", (None, None, text)


def _identifier(value: dict, suffix: str = "") -> Converted:
    system, id_value = _str(value.get("system")), _str(value.get("value"))
    type_ = value.get("type")
    type_ = type_ if type_.__class__ is dict else {}
    if system or id_value:
        yield "token", suffix, (system, id_value, _text(type_.get("text")))
    if id_value and not suffix:
        for coding in type_.get("coding") or ():
            if coding.__class__ is dict and (code := _str(coding.get("code"))):
                yield "token", ":of-type", (_str(coding.get("system")), f"{code}|{id_value}", None)


def _contact_point(value: dict) -> Converted:
    if v := _str(value.get("value")):
        yield "token", "", (None, v, None)


def _boolean(value: Any) -> Converted:
    if value.__class__ is bool:
        yield "token", "", (None, "true" if value else "false", None)


def _code(value: Any) -> Converted:
    if v := _str(value):
        yield "token", "", (None, v, None)


# --- reference (search.html#reference) --------------------------------------------------------

def _reference(value: dict) -> Converted:
    ref = value.get("reference")
    if isinstance(ref, str):
        target_type, target_id, url = reference_parts(ref)
        if target_id or url:
            yield "reference", "", (target_type, target_id, url)
    identifier = value.get("identifier")
    if identifier.__class__ is dict:
        yield from _identifier(identifier, ":identifier")


def _url_reference(url: str) -> Converted:
    """A URL used as a reference: kept as the URL, with (type, id) when it ends in ``Type/id``."""
    target_type, target_id, _ = reference_parts(url)
    yield "reference", "", (target_type, target_id, url)


def _attachment_reference(value: dict) -> Converted:
    if url := _str(value.get("url")):
        yield from _url_reference(url)


def _canonical_reference(value: Any) -> Converted:
    if v := _str(value):
        yield from _url_reference(canonical_url(v))


def _uri_reference(value: Any) -> Converted:
    if v := _str(value):
        yield from _url_reference(v)


def _resource_reference(value: dict) -> Converted:
    if (rid := _str(value.get("id"))) and (rt := _str(value.get("resourceType"))):
        yield "reference", "", (rt, rid, None)


# --- date (search.html#date) ------------------------------------------------------------------

def _range_of(value: Any) -> tuple[float, float] | None:
    if isinstance(value, str):
        try:
            return date_range(value)
        except DateFormatError:
            return None
    return None


def _date(value: Any) -> Converted:
    if bounds := _range_of(value):
        yield "date", "", bounds


def _period(value: dict) -> Converted:
    start, end = value.get("start"), value.get("end")
    low, high = _range_of(start), _range_of(end)
    if low or high:
        yield "date", "", (low[0] if low else LOW_UNBOUNDED, high[1] if high else HIGH_UNBOUNDED)


def _timing(value: dict) -> Converted:
    for event in value.get("event") or ():
        yield from _date(event)
    repeat = value.get("repeat")
    if repeat.__class__ is dict and (bounds := repeat.get("boundsPeriod")).__class__ is dict:
        yield from _period(bounds)


# --- number and quantity (search.html#number, #quantity) ---------------------------------------

def _number(value: Any) -> Converted:
    if (v := _num(value)) is not None:
        yield "number", "", (v, v)


def _quantity_number(value: dict) -> Converted:
    if (v := _num(value.get("value"))) is not None:
        yield "number", "", _bounds(v, value.get("comparator"))


def _bounds(value: float, comparator: Any) -> tuple[float, float]:
    """A comparator makes the stored value an open range: ``<5`` is [LOW_UNBOUNDED, 5]."""
    if comparator in ("<", "<="):
        return LOW_UNBOUNDED, value
    if comparator in (">", ">="):
        return value, HIGH_UNBOUNDED
    return value, value


def _range_bounds(value: dict) -> tuple[float, float, dict] | None:
    low, high = value.get("low"), value.get("high")
    low = low if low.__class__ is dict else {}
    high = high if high.__class__ is dict else {}
    lo, hi = _num(low.get("value")), _num(high.get("value"))
    if lo is None and hi is None:
        return None
    return (LOW_UNBOUNDED if lo is None else lo, HIGH_UNBOUNDED if hi is None else hi,
            low if lo is not None else high)


def _number_range(value: dict) -> Converted:
    if found := _range_bounds(value):
        yield "number", "", found[:2]


def _unit_rows(unit_of: dict, low: float, high: float) -> Converted:
    """The coded unit, and the human unit as a second row when it differs (so ``||mg`` matches)."""
    system, code, unit = _str(unit_of.get("system")), _str(unit_of.get("code")), _str(unit_of.get("unit"))
    yield "quantity", "", (system, code or unit, low, high)
    if unit and code and unit != code:
        yield "quantity", "", (None, unit, low, high)


def _quantity(value: dict) -> Converted:
    if (v := _num(value.get("value"))) is not None:
        yield from _unit_rows(value, *_bounds(v, value.get("comparator")))


def _money(value: dict) -> Converted:
    if (v := _num(value.get("value"))) is not None:
        yield "quantity", "", (CURRENCY_SYSTEM, _str(value.get("currency")), v, v)


def _quantity_range(value: dict) -> Converted:
    if found := _range_bounds(value):
        yield from _unit_rows(found[2], found[0], found[1])


def _plain_quantity(value: Any) -> Converted:
    if (v := _num(value)) is not None:
        yield "quantity", "", (None, None, v, v)


# --- uri (search.html#uri) --------------------------------------------------------------------

def _uri(value: Any) -> Converted:
    if v := _str(value):
        yield "uri", "", (v,)


_CONVERTERS: dict[str, dict[str, Converter]] = {
    "string": {
        "string": _string, "uri": _string,
        "HumanName": _parts("family", "given", "prefix", "suffix", "text"),
        "Address": _parts("line", "city", "district", "state", "postalCode", "country", "text"),
    },
    "token": {
        "Coding": _coding, "CodeableConcept": _codeable_concept, "Identifier": _identifier,
        "ContactPoint": _contact_point, "boolean": _boolean, "string": _code, "uri": _code,
    },
    "reference": {
        "Reference": _reference, "canonical": _canonical_reference, "uri": _uri_reference,
        "Resource": _resource_reference, "Attachment": _attachment_reference,
    },
    "date": {"date": _date, "dateTime": _date, "instant": _date, "Period": _period, "Timing": _timing},
    "number": {"integer": _number, "decimal": _number, "Quantity": _quantity_number, "Range": _number_range},
    "quantity": {"Quantity": _quantity, "Money": _money, "Range": _quantity_range,
                 "integer": _plain_quantity, "decimal": _plain_quantity},
    "uri": {"uri": _uri, "string": _uri},
}


@lru_cache(maxsize=None)
def converter(search_type: str, fhir_type: str) -> Converter | None:
    """The converter for a value of ``fhir_type`` under a ``search_type`` parameter, or None.

    Converters of complex types see only JSON objects: a malformed value (a string where a
    HumanName belongs) is skipped here rather than failing the whole resource.
    """
    table = _CONVERTERS.get(search_type, {})
    structures = definitions.structures()
    current: str | None = fhir_type
    while current:
        if current in table:
            found = table[current]
            if (structures.get(fhir_type) or {}).get("kind") == "primitive-type":
                return found
            return lambda value: found(value) if value.__class__ is dict else ()
        current = (structures.get(current) or {}).get("base")
    return None
