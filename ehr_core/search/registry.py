"""Search parameters per resource type, built from the R4 SearchParameter definitions.

https://hl7.org/fhir/R4/searchparameter.html — each definition has a ``base`` list and one
FHIRPath ``expression`` that unions the paths for every base (``Patient.name | Practitioner.name``).
The registry splits that union so each (resource type, code) gets only its own paths.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

from ehr_core import definitions

# Parameters every resource type has (search.html#all); they are served from resource metadata.
COMMON_BASES = ("Resource", "DomainResource")


@dataclass(frozen=True)
class Component:
    definition: str          # canonical URL of the component's SearchParameter
    expression: str          # FHIRPath relative to the composite's element
    type: str                # resolved type of the component parameter


@dataclass(frozen=True)
class SearchParam:
    code: str
    type: str                # number|date|string|token|reference|composite|quantity|uri|special
    resource_type: str
    expression: str          # FHIRPath for this resource type only ('' when none)
    url: str
    targets: tuple[str, ...] = ()
    components: tuple[Component, ...] = field(default=())


def split_union(expression: str) -> list[str]:
    """Split a FHIRPath union at top level (``|`` outside brackets and strings)."""
    parts, depth, start, quote = [], 0, 0, False
    for i, ch in enumerate(expression):
        if ch == "'":
            quote = not quote
        elif quote:
            continue
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _root(part: str) -> str:
    p = part.lstrip("(")
    for i, ch in enumerate(p):
        if not (ch.isalnum() or ch == "_"):
            return p[:i]
    return p


def _expression_for(expression: str, resource_type: str, bases: list[str]) -> str:
    if not expression:
        return ""
    if len(bases) == 1:
        return expression
    own = [p for p in split_union(expression) if _root(p) in (resource_type, *COMMON_BASES)]
    return " | ".join(own)


class Registry:
    """All search parameters, by resource type and code. Built once from definition data."""

    def __init__(self, params: list[dict]):
        by_url = {p["url"]: p for p in params}
        self._by_type: dict[str, dict[str, SearchParam]] = {}
        common: dict[str, SearchParam] = {}
        resource_types = definitions.resource_types()
        for p in params:
            components = tuple(
                Component(c["definition"], c["expression"], by_url.get(c["definition"], {}).get("type", "token"))
                for c in p.get("component", ())
            )
            for base in p["base"]:
                sp = SearchParam(
                    code=p["code"], type=p["type"], resource_type=base,
                    expression=_expression_for(p.get("expression", ""), base, p["base"]),
                    url=p["url"], targets=tuple(p.get("target", ())), components=components,
                )
                if base in COMMON_BASES:
                    common[sp.code] = sp
                elif base in resource_types:
                    self._by_type.setdefault(base, {})[sp.code] = sp
        self.common = common
        for rt in resource_types:
            self._by_type.setdefault(rt, {})

    def params(self, resource_type: str) -> dict[str, SearchParam]:
        """The type's own parameters (without the common ``_id``, ``_lastUpdated``, ...)."""
        return self._by_type.get(resource_type, {})

    def get(self, resource_type: str, code: str) -> SearchParam | None:
        return self._by_type.get(resource_type, {}).get(code) or self.common.get(code)

    def resource_types(self) -> list[str]:
        return sorted(self._by_type)


@lru_cache(maxsize=1)
def registry() -> Registry:
    return Registry(definitions.search_parameters())
