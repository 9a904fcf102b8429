"""``SearchRequest``: a FHIR search parsed once into a typed object (search.html).

``parse_search`` turns the URL parameters into filters (criteria, see ``filters``) and result
parameters (https://hl7.org/fhir/R4/search.html#return: ``_sort``, ``_count``, ``_total``,
``_summary``, ``_elements``, ``_include``/``_revinclude``) and the paging cursor. Unknown or
unsupported parameters are ignored with a warning, or rejected when the client asked for strict
handling (``Prefer: handling=strict``, search.html#errors). Malformed values are always a 400.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ehr_core import definitions, errors
from ehr_core.errors import Issue
from ehr_core.search import cursor as cursors
from ehr_core.search.filters import Filter, UnknownParameter, parse_filter, resolve
from ehr_core.search.registry import registry

DEFAULT_COUNT = 50
MAX_COUNT = 1000
SORTABLE = {"string", "token", "date", "number", "quantity", "uri", "reference"}
TOTAL_MODES = ("none", "estimate", "accurate")
SUMMARY_MODES = ("true", "false", "text", "data", "count")
# Accepted and without effect here: the REST layer renders the format.
FORMAT_PARAMS = {"_format", "_pretty"}
# Defined by the spec, not implemented: reported like unknown parameters.
UNSUPPORTED = {"_contained", "_containedType", "_content", "_query", "_filter", "_list", "_since"}
_ELEMENT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]*(\[x\])?$")

__all__ = ["SearchRequest", "SortKey", "Include", "parse_search"]


@dataclass(frozen=True)
class SortKey:
    code: str          # "_id", "_lastUpdated" or a parameter code
    type: str
    descending: bool = False


@dataclass(frozen=True)
class Include:
    """``_include=Source:param[:Target]`` or ``_revinclude=...`` (search.html#include).

    ``param`` None means every reference parameter (``*``); ``iterate`` applies the include to
    included resources as well (``:iterate``, R3's ``:recurse`` accepted as a synonym).
    """
    source_type: str | None          # None for the bare wildcard ``_include=*``
    param: str | None
    target_type: str | None
    iterate: bool = False
    reverse: bool = False


@dataclass
class SearchRequest:
    resource_type: str | None                  # None for system-level search
    types: tuple[str, ...]                     # the types searched
    filters: tuple[Filter, ...] = ()
    compartment: tuple[str, str] | None = None
    sort: tuple[SortKey, ...] = ()
    count: int = DEFAULT_COUNT
    cursor: cursors.Cursor | None = None
    total: str = "none"
    summary: str | None = None
    elements: tuple[str, ...] | None = None
    includes: tuple[Include, ...] = ()
    warnings: list[Issue] = field(default_factory=list)
    link_params: tuple[tuple[str, str], ...] = ()   # the parameters applied, for the Bundle links
    path: str = ""                              # request path below the base, e.g. "Patient/1/Observation"
    supporting: tuple[str, ...] = ()            # $everything: also types referenced by compartment members

    @property
    def order_fingerprint(self) -> str:
        return cursors.order_fingerprint(",".join(("-" if k.descending else "") + k.code for k in self.sort))

    @property
    def wants_entries(self) -> bool:
        return self.count > 0 and self.summary != "count"


def parse_search(resource_type: str | None, params: list[tuple[str, str]], *, strict: bool = False,
                 compartment: tuple[str, str] | None = None) -> SearchRequest:
    """Parse search parameters for ``resource_type`` (None: all types, or those in ``_type``)."""
    types = _scope(resource_type, params, compartment)
    req = SearchRequest(resource_type, types, compartment=compartment, path=_path(resource_type, compartment))
    ctx = _Context(req, strict)
    filters, raw_cursor = [], None
    for name, value in params:
        base, _, modifier = name.partition(":")
        if base in FORMAT_PARAMS:
            continue
        if name == "_cursor":
            raw_cursor = value
            continue
        if base in _RESULT_PARAMS and not (base == "_type" and resource_type):
            _RESULT_PARAMS[base](ctx, modifier, value)
            ctx.keep(name, value)
            continue
        if base in UNSUPPORTED or base == "_type":
            ctx.unknown(f"Search parameter {name!r} is not supported by this server")
            continue
        try:
            flt = parse_filter(name, value, types)
        except UnknownParameter as exc:
            ctx.unknown(str(exc))
            continue
        if flt is not None:
            filters.append(flt)
            ctx.keep(name, value)
    req.filters = tuple(filters)
    if raw_cursor:
        req.cursor = cursors.decode(raw_cursor, req.order_fingerprint)
    if req.summary == "count" and req.total == "none":
        req.total = "accurate"
    return req


class _Context:
    def __init__(self, req: SearchRequest, strict: bool):
        self.req, self.strict, self.kept = req, strict, []

    def keep(self, name: str, value: str) -> None:
        self.req.link_params = (*self.req.link_params, (name, value))

    def unknown(self, message: str) -> None:
        if self.strict:
            raise errors.bad_request(message, code="not-supported")
        self.req.warnings.append(Issue("warning", "not-supported", message + "; it was ignored"))


def _path(resource_type: str | None, compartment: tuple[str, str] | None) -> str:
    parts = [*(compartment or ()), *([resource_type] if resource_type else ([] if not compartment else ["*"]))]
    return "/".join(parts)


def _scope(resource_type: str | None, params: list[tuple[str, str]],
           compartment: tuple[str, str] | None) -> tuple[str, ...]:
    known = definitions.resource_types()
    if resource_type is not None and resource_type not in known:
        raise errors.bad_request(f"{resource_type!r} is not a resource type")
    if resource_type is not None:
        types: tuple[str, ...] = (resource_type,)
    else:
        listed = [t for name, value in params if name == "_type" for t in value.split(",") if t]
        bad = [t for t in listed if t not in known]
        if bad:
            raise errors.bad_request(f"_type: {', '.join(bad)} is not a resource type")
        types = tuple(sorted(set(listed))) if listed else tuple(registry().resource_types())
    if compartment is not None:
        members = compartment_types(compartment[0])
        if resource_type is not None and resource_type not in members:
            raise errors.bad_request(f"{resource_type} is not in the {compartment[0]} compartment")
        types = tuple(t for t in types if t in members)
    return types


def compartment_types(compartment_type: str) -> dict[str, tuple[str, ...]]:
    """Member types of a compartment and the parameters that make them members."""
    if compartment_type != "Patient":
        raise errors.bad_request(f"Compartment {compartment_type} is not supported (only Patient)",
                                 code="not-supported")
    return {t: tuple(p) for t, p in definitions.patient_compartment().items() if p or t == "Patient"}


# --- result parameters (search.html#return) -----------------------------------------------------

def _count(ctx: _Context, _modifier: str, value: str) -> None:
    if not value.isdigit():
        raise errors.bad_request(f"_count={value!r} is not a non-negative integer")
    ctx.req.count = min(int(value), MAX_COUNT)


def _choice(name: str, allowed: tuple[str, ...], value: str) -> str:
    if value not in allowed:
        raise errors.bad_request(f"{name}={value!r} is not one of {', '.join(allowed)}")
    return value


def _total(ctx: _Context, _modifier: str, value: str) -> None:
    ctx.req.total = _choice("_total", TOTAL_MODES, value)


def _summary(ctx: _Context, _modifier: str, value: str) -> None:
    mode = _choice("_summary", SUMMARY_MODES, value)
    ctx.req.summary = None if mode == "false" else mode


def _elements(ctx: _Context, _modifier: str, value: str) -> None:
    names = []
    for raw in value.split(","):
        name = raw.strip().split(".")[-1]     # "Patient.name" and "name" both name the element
        if not name:
            continue
        if not _ELEMENT_RE.match(name):
            raise errors.bad_request(f"_elements: {raw!r} is not an element name")
        names.append(name.removesuffix("[x]"))
    ctx.req.elements = tuple(names)


def _sort(ctx: _Context, _modifier: str, value: str) -> None:
    keys = []
    for raw in value.split(","):
        raw = raw.strip()
        if not raw:
            continue
        descending = raw.startswith("-")
        code = raw.lstrip("-")
        try:
            sp = resolve(ctx.req.types, code)
        except UnknownParameter as exc:
            ctx.unknown(f"_sort: {exc}")
            continue
        if sp.type not in SORTABLE or (not sp.expression and code not in ("_id", "_lastUpdated")):
            ctx.unknown(f"_sort: cannot sort on {code} ({sp.type})")
            continue
        keys.append(SortKey(code, sp.type, descending))
    ctx.req.sort = tuple(keys)


def _include(ctx: _Context, modifier: str, value: str, *, reverse: bool = False) -> None:
    name = "_revinclude" if reverse else "_include"
    if modifier not in ("", "iterate", "recurse"):
        raise errors.bad_request(f"{name}:{modifier}: unknown modifier (iterate is supported)")
    iterate = modifier in ("iterate", "recurse")
    if value == "*":
        ctx.req.includes = (*ctx.req.includes, Include(None, None, None, iterate, reverse))
        return
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise errors.bad_request(f"{name}={value!r} is not SourceType:parameter[:TargetType] or *")
    source, param, target = parts[0], parts[1], parts[2] if len(parts) == 3 else None
    known = definitions.resource_types()
    for t in (source, target):
        if t is not None and t not in known:
            raise errors.bad_request(f"{name}={value!r}: {t} is not a resource type")
    if param != "*":
        sp = registry().get(source, param)
        if sp is None or sp.type != "reference":
            ctx.unknown(f"{name}={value!r}: {source} has no reference parameter {param!r}")
            return
    ctx.req.includes = (*ctx.req.includes, Include(source, None if param == "*" else param, target,
                                                   iterate, reverse))


def _revinclude(ctx: _Context, modifier: str, value: str) -> None:
    _include(ctx, modifier, value, reverse=True)


def _ignore(_ctx: _Context, _modifier: str, _value: str) -> None:
    """``_type`` is read up front (it decides the searched types)."""


_RESULT_PARAMS = {
    "_count": _count, "_total": _total, "_summary": _summary, "_elements": _elements, "_sort": _sort,
    "_include": _include, "_revinclude": _revinclude, "_type": _ignore,
}
