"""Search criteria: one ``Filter`` per parameter occurrence, resolved against the registry.

https://hl7.org/fhir/R4/search.html — a parameter's comma-separated values are OR-ed
(#combining); repeated parameters are AND-ed; ``:modifier`` refines how values match
(#modifiers); ``a.b=`` chains through a reference (#chaining) and ``_has:T:ref:p=`` reverse
chains (#has). Resolution happens here once, so the SQL compiler never looks names up again.
"""
from __future__ import annotations

from dataclasses import dataclass

from ehr_core import definitions, errors
from ehr_core.search import query_values as v
from ehr_core.search import terminology
from ehr_core.search.registry import registry

# Modifiers this server implements, per parameter type (search.html#modifiers).
MODIFIERS = {
    "string": {"exact", "contains", "missing"},
    "token": {"text", "not", "of-type", "missing"},
    "reference": {"identifier", "missing"},          # plus :[Type]
    "date": {"missing"},
    "number": {"missing"},
    "quantity": {"missing"},
    "uri": {"below", "above", "missing"},
    "composite": {"missing"},
}
# Defined by the spec but not implemented: rejected with a 400 as search.html#modifiers requires.
UNSUPPORTED_MODIFIERS = {"in", "not-in", "above", "below", "type", "iterate", "contains", "text", "exact"}
# token :in, :not-in, :below, :above: ehr_core/search/terminology.py
MAX_CHAIN_DEPTH = 3
# Parameters answered from the resource table itself rather than from index rows.
RESOURCE_COLUMNS = ("_id", "_lastUpdated")
# Common parameters without a FHIRPath expression that the indexer still fills (see ``extract``).
INDEXED_WITHOUT_EXPRESSION = ("_text",)


class UnknownParameter(Exception):
    """A parameter this server does not know for the searched types (ignored unless strict)."""


@dataclass(frozen=True)
class Filter:
    """One parameter occurrence. ``values`` are alternatives (OR); a request's filters are AND-ed.

    ``type`` is the parameter type; ``code`` is the name the index rows carry. ``_id`` and
    ``_lastUpdated`` are answered from the resource table, every other code from an ``sp_*`` table.
    """
    code: str
    type: str
    modifier: str | None = None
    values: tuple[object, ...] = ()
    missing: bool | None = None             # set for :missing
    chain: Chain | None = None              # subject.name=...: the filter applies to the target
    has: Has | None = None                  # _has:Observation:patient:code=...
    components: tuple[str, ...] = ()        # component types of a composite parameter


@dataclass(frozen=True)
class Chain:
    target_types: tuple[str, ...]
    filter: Filter


@dataclass(frozen=True)
class Has:
    source_type: str            # the referring type (Observation)
    reference: str              # its reference parameter pointing at the searched type (patient)
    filter: Filter              # criterion on the referring resource


def resolve(types: tuple[str, ...], code: str):  # noqa: ANN201 - SearchParam
    """The parameter for every type in scope; unknown unless all of them define it alike."""
    found = [registry().get(t, code) for t in types]
    if not found or any(p is None for p in found):
        missing = [t for t, p in zip(types, found) if p is None]
        where = missing[0] if len(missing) == 1 else f"{len(missing)} of the searched types"
        raise UnknownParameter(f"Unknown search parameter {code!r} for {where}")
    if len({p.type for p in found}) > 1:
        raise UnknownParameter(f"Search parameter {code!r} has different types across the searched types")
    return found[0]


def parse_filter(name: str, text: str, types: tuple[str, ...], depth: int = 0) -> Filter | None:
    """Parse ``name=text`` for resources of ``types``; None when the value is empty (ignored)."""
    if depth > MAX_CHAIN_DEPTH:
        raise errors.bad_request(f"Search parameter {name!r} chains deeper than {MAX_CHAIN_DEPTH} levels")
    if name.startswith("_has:") or name == "_has":
        return _parse_has(name, text, types, depth)
    head, _, rest = name.partition(".")
    code, _, modifier = head.partition(":")
    if not code:
        raise errors.bad_request(f"Search parameter name {name!r} is malformed")
    sp = resolve(types, code)
    modifier = modifier or None
    if rest:
        return _parse_chain(sp, code, modifier, rest, text, types, depth)
    return _parse_plain(sp, code, modifier, text)


def _parse_plain(sp, code: str, modifier: str | None, text: str) -> Filter | None:  # noqa: ANN001
    kind = sp.type
    if kind not in MODIFIERS or (not sp.expression and code not in (*RESOURCE_COLUMNS, *INDEXED_WITHOUT_EXPRESSION)):
        raise UnknownParameter(f"Search parameter {code!r} ({kind}) is not supported by this server")
    if len(sp.components) > 2:
        raise UnknownParameter(f"Search parameter {code!r} has {len(sp.components)} components; "
                               "only two-component composites are indexed")
    target_type = None
    if kind == "token" and modifier in terminology.MODIFIERS:
        pieces = [p for p in v.split_escaped(text, ",") if p != ""]
        if not pieces:
            return None
        applied, values = terminology.expand(code, modifier, [v.unescape(p) for p in pieces])
        return Filter(code, kind, applied, values)
    if modifier is not None and modifier not in MODIFIERS[kind]:
        if kind == "reference" and modifier in definitions.resource_types():
            if sp.targets and modifier not in sp.targets:
                raise errors.bad_request(f"Search parameter {code} cannot refer to {modifier} "
                                         f"(targets: {', '.join(sp.targets)})")
            target_type = modifier
        elif modifier in UNSUPPORTED_MODIFIERS:
            raise errors.bad_request(f"Modifier :{modifier} on {code} ({kind}) is not supported by this server",
                                     code="not-supported")
        else:
            raise errors.bad_request(f"Unknown modifier :{modifier} on search parameter {code} ({kind})")
    if modifier == "missing":
        return Filter(code, kind, "missing", missing=v.parse_missing(text, code))
    pieces = [p for p in v.split_escaped(text, ",") if p != ""]
    if not pieces:
        return None
    components = tuple(c.type for c in sp.components)
    if code == "_text" and modifier is None:
        modifier = "contains"      # narrative search looks for the words anywhere (search.html#text)
    return Filter(code, kind, modifier,
                  tuple(_parse_one(kind, modifier, target_type, p, code, components) for p in pieces),
                  components=components)


def _parse_one(kind: str, modifier: str | None, target_type: str | None, text: str, code: str,
               components: tuple[str, ...]) -> object:
    if code == "_id":
        return v.unescape(text)
    if modifier == "text":
        return v.unescape(text)
    if modifier == "of-type":
        return v.parse_of_type(text, code)
    if modifier == "identifier":
        return v.parse_token(text)
    if kind == "reference":
        return v.parse_reference(text, code, type_modifier=target_type)
    if kind == "composite":
        return v.parse_composite(text, code, components)
    return v.parse_value(kind, text, code)


def _parse_chain(sp, code: str, modifier: str | None, rest: str, text: str,  # noqa: ANN001
                 types: tuple[str, ...], depth: int) -> Filter | None:
    if sp.type != "reference":
        raise errors.bad_request(f"Cannot chain through {code}: it is a {sp.type} parameter, not a reference")
    candidates = _chain_targets(sp, code, modifier, types)
    chained_code = rest.partition(".")[0].partition(":")[0]
    usable = tuple(t for t in candidates if chained_code == "_has" or registry().get(t, chained_code) is not None)
    if not usable:
        raise UnknownParameter(f"Chained parameter {chained_code!r} is not defined for any target of "
                               f"{code} ({', '.join(candidates)})")
    inner = parse_filter(rest, text, usable, depth + 1)
    if inner is None:
        return None
    return Filter(code, "reference", modifier, chain=Chain(usable, inner))


def _chain_targets(sp, code: str, modifier: str | None, types: tuple[str, ...]) -> tuple[str, ...]:  # noqa: ANN001
    if modifier is not None:
        if modifier not in definitions.resource_types():
            raise errors.bad_request(f"Chained parameter {code}:{modifier}: {modifier} is not a resource type")
        return (modifier,)
    targets: set[str] = set()
    for t in types:
        p = registry().get(t, code)
        targets.update(p.targets if p and p.targets else definitions.resource_types())
    return tuple(sorted(targets & definitions.resource_types()))


def _parse_has(name: str, text: str, types: tuple[str, ...], depth: int) -> Filter | None:
    parts = name.split(":", 3)
    if len(parts) != 4 or not all(parts[1:]):
        raise errors.bad_request(f"{name!r} is not _has:[type]:[reference parameter]:[parameter]")
    _, source, reference, rest = parts
    if source not in definitions.resource_types():
        raise errors.bad_request(f"{name!r}: {source} is not a resource type")
    ref = registry().get(source, reference)
    if ref is None or ref.type != "reference":
        raise UnknownParameter(f"{name!r}: {source} has no reference parameter {reference!r}")
    if ref.targets and not set(ref.targets) & set(types):
        raise errors.bad_request(f"{name!r}: {source}.{reference} never refers to {', '.join(types[:3])}")
    inner = parse_filter(rest, text, (source,), depth + 1)
    if inner is None:
        return None
    return Filter("_has", "_has", has=Has(source, reference, inner))
