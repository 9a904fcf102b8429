"""ValueSet expansion from ``compose`` (https://hl7.org/fhir/R4/valueset.html#compositions):
include/exclude by whole system, concept list, filters and other value sets.

A value set that includes a whole grammar-based system (UCUM, published without its codes) has
no finite expansion; membership in it is still decided, by the system's grammar.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .catalog import Catalog

Grammar = Callable[[str], bool]


class NotEnumerable(Exception):
    """The value set cannot be listed (a whole grammar-based system is included)."""


class UnknownReference(LookupError):
    """compose names a code system or value set the catalogue does not have."""


@dataclass(frozen=True, slots=True)
class Member:
    system: str
    version: str | None
    code: str
    display: str | None


@dataclass(slots=True)
class Expansion:
    members: list[Member]
    index: dict[tuple[str, str], Member]
    used: list[str]                                   # "system|version" of the code systems used


def expand(catalog: Catalog, vs: dict, _within: tuple[str, ...] = ()) -> Expansion:
    compose = vs.get("compose") or {}
    used: list[str] = []
    chosen: dict[tuple[str, str], Member] = {}
    for inc in compose.get("include") or []:
        for m in _members(catalog, inc, used, (*_within, vs["url"])):
            chosen.setdefault((m.system, m.code), m)
    for exc in compose.get("exclude") or []:
        for m in _members(catalog, exc, used, (*_within, vs["url"])):
            chosen.pop((m.system, m.code), None)
    members = list(chosen.values())
    return Expansion(members, chosen, sorted(set(used)))


def _members(catalog: Catalog, inc: dict, used: list[str], within: tuple[str, ...]) -> list[Member]:
    groups: list[list[Member]] = []
    system = inc.get("system")
    if system:
        cs = catalog.code_system(system, inc.get("version"))
        if cs is None:
            raise UnknownReference(f"code system {system!r}" + (f" version {inc['version']!r}" if inc.get("version") else ""))
        used.append(f"{cs.url}|{cs.version}" if cs.version else cs.url)
        if inc.get("concept"):
            codes = [(c["code"], c.get("display")) for c in inc["concept"]]
        elif inc.get("filter"):
            selected: list[str] | None = None
            for f in inc["filter"]:
                found = cs.filter(f["property"], f["op"], f["value"])
                selected = found if selected is None else [c for c in selected if c in set(found)]
            codes = [(c, None) for c in selected or []]
        elif not cs.enumerated:
            raise NotEnumerable(f"{system} is a grammar, not a list: it has no expansion")
        else:
            codes = [(c, None) for c in cs.concepts]
        groups.append([Member(cs.url, cs.version, code, display or _display(cs, code)) for code, display in codes])
    for url in inc.get("valueSet") or []:
        if url.split("|")[0] in within:
            raise UnknownReference(f"value set {url!r} includes itself")
        ref = catalog.find("ValueSet", url)
        if ref is None:
            raise UnknownReference(f"value set {url!r}")
        sub = expand(catalog, ref, within)
        used.extend(sub.used)
        groups.append(sub.members)
    if not groups:
        return []
    keep = set.intersection(*({(m.system, m.code) for m in g} for g in groups[1:])) if len(groups) > 1 else None
    return [m for m in groups[0] if keep is None or (m.system, m.code) in keep]


def _display(cs, code: str) -> str | None:  # noqa: ANN001
    c = cs.get(code)
    return c.display if c else None


def includes_by_grammar(vs: dict, system: str, code: str, grammars: dict[str, Grammar]) -> bool:
    """Membership in a value set that cannot be expanded: a whole grammar-based system included."""
    compose = vs.get("compose") or {}
    def hit(part: dict) -> bool:
        if part.get("system") != system or part.get("filter") or part.get("valueSet"):
            return False
        if part.get("concept"):
            return any(c["code"] == code for c in part["concept"])
        grammar = grammars.get(system)
        return grammar is not None and grammar(code)
    return any(hit(i) for i in compose.get("include") or []) and not any(hit(e) for e in compose.get("exclude") or [])
