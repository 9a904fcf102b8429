"""Which data category of the national standard a submitted resource belongs to.

The mapping is data: ``package/CodeSystem-evk-data-category.json`` (served read-only as
``CodeSystem/evk-data-category``). A resource claiming a national profile listed there belongs
to that profile's category. One claiming none is matched by type and codes (``criteria``, in
FHIR search syntax); the most specific match wins — a ``code``/``type`` (what was recorded)
outranks a ``category`` (what kind of record), which outranks the type alone — and a tie means
the resource is in no category: a guess would put the conformance report's counts in the wrong
row (an Observation with category laboratory and code 883-9 is a blood group, not a lab result).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl

from adapters.national.package import of_type

DATA_CATEGORY_SYSTEM = "https://evk.lv/fhir/CodeSystem/data-category"
# Weight of a matched criteria parameter; the element each one looks at is named alike.
WEIGHTS = {"code": 2, "type": 2, "category": 1}


@dataclass(frozen=True)
class Category:
    code: str
    display: str


@dataclass(frozen=True)
class Criteria:
    category: str
    resource_type: str
    params: tuple[tuple[str, str, str], ...]      # (element, system, code)

    def matches(self, resource: dict) -> bool:
        """Every parameter matched; ``system|`` (no code) is any code of the system, as in search."""
        for element, system, code in self.params:
            found = _codings(resource.get(element))
            if (system, code) not in found and not (code == "" and any(s == system for s, _ in found)):
                return False
        return True

    @property
    def weight(self) -> int:
        return sum(WEIGHTS[element] for element, _, _ in self.params)


@dataclass(frozen=True)
class Mapping:
    categories: tuple[Category, ...]
    by_profile: dict[str, str]
    criteria: dict[str, tuple[Criteria, ...]]      # resource type -> criteria

    def category_of(self, resource: dict) -> str | None:
        meta = resource.get("meta")
        claimed = meta.get("profile") if type(meta) is dict else None
        for url in claimed if type(claimed) is list else []:
            if type(url) is str and url.split("|")[0] in self.by_profile:
                return self.by_profile[url.split("|")[0]]
        matched = [c for c in self.criteria.get(resource.get("resourceType"), ()) if c.matches(resource)]
        if not matched:
            return None
        best = max(c.weight for c in matched)
        winners = {c.category for c in matched if c.weight == best}
        return winners.pop() if len(winners) == 1 else None


@lru_cache(maxsize=None)
def mapping() -> Mapping:
    cs = next(cs for cs in of_type("CodeSystem") if cs.get("url") == DATA_CATEGORY_SYSTEM)
    categories, by_profile, criteria = [], {}, {}
    for concept in cs["concept"]:
        categories.append(Category(concept["code"], concept["display"]))
        for prop in concept.get("property", []):
            if prop["code"] == "profile":
                by_profile[prop["valueString"]] = concept["code"]
            elif prop["code"] == "criteria":
                c = parse_criteria(concept["code"], prop["valueString"])
                criteria.setdefault(c.resource_type, []).append(c)
    return Mapping(tuple(categories), by_profile, {t: tuple(cs) for t, cs in criteria.items()})


def parse_criteria(category: str, text: str) -> Criteria:
    """``Observation?category=http://...|laboratory`` -> Criteria.

    >>> parse_criteria("x", "Observation?code=http://loinc.org|883-9").params
    (('code', 'http://loinc.org', '883-9'),)
    """
    rtype, _, query = text.partition("?")
    params = []
    for name, value in parse_qsl(query):
        if name not in WEIGHTS:
            raise ValueError(f"data category criteria {text!r}: {name!r} is not one of {sorted(WEIGHTS)}")
        system, _, code = value.rpartition("|")
        params.append((name, system, code))
    return Criteria(category, rtype, tuple(params))


def category_of(resource: object) -> str | None:
    return mapping().category_of(resource) if type(resource) is dict else None


def _codings(value: object) -> set[tuple[str, str]]:
    """(system, code) of a CodeableConcept or a list of them."""
    concepts = value if type(value) is list else [value]
    return {(c.get("system"), c.get("code")) for cc in concepts if type(cc) is dict
            for c in cc.get("coding") or [] if type(c) is dict}
