"""One CodeSystem version, indexed: concepts by code with display, designations, properties,
parents and children (https://hl7.org/fhir/R4/codesystem.html).

The hierarchy comes from nested ``concept`` lists and from the ``parent`` property
(concept-properties#parent), whichever the file uses.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

PROPERTY_VALUE = ("valueCode", "valueString", "valueInteger", "valueBoolean", "valueDecimal",
                  "valueDateTime", "valueCoding")


@dataclass(slots=True)
class Concept:
    code: str
    display: str | None
    designations: list[dict] = field(default_factory=list)
    properties: list[tuple[str, str, object]] = field(default_factory=list)   # (code, valueX, value)
    parents: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)

    def values(self, prop: str) -> list[str]:
        return [str(v) for code, _, v in self.properties if code == prop]

    def displays(self) -> set[str]:
        """Every text that names the concept (display and designations), folded for comparison."""
        out = {d["value"].casefold() for d in self.designations if isinstance(d.get("value"), str)}
        if self.display:
            out.add(self.display.casefold())
        return out


class CodeSystemIndex:
    def __init__(self, resource: dict):
        self.resource = resource
        self.url: str = resource["url"]
        self.version: str | None = resource.get("version")
        self.name: str = resource.get("name") or resource.get("title") or self.url
        self.content: str = resource.get("content", "complete")
        self.case_sensitive: bool = resource.get("caseSensitive", True)
        self.concepts: dict[str, Concept] = {}
        self._add(resource.get("concept") or [], None)
        for c in self.concepts.values():
            for parent in c.values("parent"):
                if parent not in c.parents:
                    c.parents.append(parent)
            for parent in c.parents:
                if parent in self.concepts and c.code not in self.concepts[parent].children:
                    self.concepts[parent].children.append(c.code)
        self._folded = None if self.case_sensitive else {k.casefold(): k for k in self.concepts}

    def _add(self, concepts: list[dict], parent: str | None) -> None:
        for raw in concepts:
            props = [(p["code"], key, p[key]) for p in raw.get("property") or []
                     for key in PROPERTY_VALUE if key in p]
            c = Concept(raw["code"], raw.get("display"), list(raw.get("designation") or []), props,
                        [parent] if parent else [])
            self.concepts[c.code] = c
            self._add(raw.get("concept") or [], c.code)

    @property
    def enumerated(self) -> bool:
        """False for grammar-based systems published without their codes (content not-present)."""
        return self.content != "not-present"

    def get(self, code: str) -> Concept | None:
        found = self.concepts.get(code)
        if found is None and self._folded is not None:
            key = self._folded.get(code.casefold())
            found = self.concepts.get(key) if key else None
        return found

    def descendants(self, code: str) -> list[str]:
        out: list[str] = []
        stack = list(reversed(self.concepts[code].children)) if code in self.concepts else []
        seen: set[str] = set()
        while stack:
            c = stack.pop()
            if c in seen:
                continue
            seen.add(c)
            out.append(c)
            stack.extend(reversed(self.concepts[c].children))
        return out

    def filter(self, prop: str, op: str, value: str) -> list[str]:
        """Codes matching one ValueSet.compose.include.filter (valueset.html#filters)."""
        if op in ("is-a", "descendent-of", "is-not-a") and prop == "concept":
            below = self.descendants(value)
            if op == "is-not-a":
                excluded = {value, *below}
                return [c for c in self.concepts if c not in excluded]
            return ([value] if op == "is-a" and value in self.concepts else []) + below
        if op == "regex":
            pattern = re.compile(value)
            return [c.code for c in self.concepts.values()
                    if any(pattern.fullmatch(v) for v in ([c.code] if prop == "code" else c.values(prop)))]
        if op in ("=", "in", "not-in"):
            wanted = {value} if op == "=" else set(value.split(","))
            return [c.code for c in self.concepts.values() if (op == "not-in") != bool(wanted & set(c.values(prop)))]
        if op == "exists":
            return [c.code for c in self.concepts.values() if bool(c.values(prop)) == (value == "true")]
        raise ValueError(f"filter operator {op!r} on property {prop!r} is not supported")
