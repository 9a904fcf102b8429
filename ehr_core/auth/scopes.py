"""SMART on FHIR scopes (https://hl7.org/fhir/smart-app-launch/scopes-and-launch-context.html).

v2 form ``<context>/<Type|*>.<cruds>[?param=value]`` and the v1 forms ``.read``/``.write``/``.*``.
Scopes only ever narrow: the access rules decide what a principal may see, a scope can take
away from that but never add (``guard``). A granular scope (``patient/Observation.rs?category=
http://terminology.hl7.org/CodeSystem/observation-category|laboratory``) narrows searches and
reads to resources with that token value.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl

CONTEXTS = ("patient", "user", "system")
V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(r"^(patient|user|system)/([A-Za-z]+|\*)\.([a-z*]+)(?:\?(.+))?$")

__all__ = ["Scope", "parse", "parse_all", "covers", "intersect", "format_scopes"]


@dataclass(frozen=True)
class Scope:
    context: str                              # patient | user | system
    resource_type: str                        # a type or "*"
    actions: frozenset[str]                   # letters of "cruds"
    params: tuple[tuple[str, str], ...] = ()  # granular restriction, e.g. (("category", "sys|code"),)

    def permits(self, resource_type: str, action: str) -> bool:
        return action in self.actions and self.resource_type in ("*", resource_type)

    def __str__(self) -> str:
        letters = "".join(c for c in "cruds" if c in self.actions)
        text = f"{self.context}/{self.resource_type}.{letters}"
        if self.params:
            text += "?" + "&".join(f"{k}={v}" for k, v in self.params)
        return text


def parse(text: str) -> Scope | None:
    """One scope, or None for scopes that are not resource scopes (openid, fhirUser, launch...)."""
    m = _SCOPE.match(text.strip())
    if not m:
        return None
    context, rt, letters, query = m.groups()
    if letters in V1:
        letters = V1[letters]
    if not set(letters) <= set("cruds"):
        return None
    params = tuple(parse_qsl(query, keep_blank_values=False)) if query else ()
    return Scope(context, rt, frozenset(letters), params)


def parse_all(scopes: str | frozenset[str] | list[str]) -> list[Scope]:
    items = scopes.split() if isinstance(scopes, str) else scopes
    return [s for s in (parse(x) for x in items) if s is not None]


def covers(outer: Scope, inner: Scope) -> bool:
    """``inner`` asks for no more than ``outer`` grants."""
    return (outer.context == inner.context and outer.resource_type in ("*", inner.resource_type)
            and inner.actions <= outer.actions and set(outer.params) <= set(inner.params))


def intersect(requested: str, allowed: str) -> str:
    """The requested scopes that some allowed scope covers (for a client's token request);
    an empty request gets everything allowed. Non-resource scopes pass through if allowed."""
    allowed_list = allowed.split()
    allowed_scopes = parse_all(allowed_list)
    if not requested.strip():
        return " ".join(allowed_list)
    out = []
    for item in requested.split():
        sc = parse(item)
        if sc is None:
            if item in allowed_list:
                out.append(item)
        elif any(covers(a, sc) for a in allowed_scopes):
            out.append(str(sc))
    return " ".join(out)


def format_scopes(scopes: list[Scope]) -> str:
    return " ".join(str(s) for s in scopes)
