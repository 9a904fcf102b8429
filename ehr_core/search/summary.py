"""``_summary`` and ``_elements``: returning part of each resource (search.html#summary, #elements).

Subsetting keeps or drops whole top-level elements. ``_summary=true`` keeps the elements the
base definition marks ``isSummary`` (``definitions/data/r4-summary-elements.json``); ``text``
keeps text, id, meta and the mandatory top-level elements; ``data`` drops the narrative.
``_elements`` keeps the named elements plus the mandatory ones. A subsetted resource carries
the ``SUBSETTED`` tag, as the spec asks, so nobody mistakes it for the whole resource.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache

from ehr_core import definitions

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED",
             "display": "subsetted"}
ALWAYS = ("resourceType", "id", "meta")


@lru_cache(maxsize=1)
def _summary_elements() -> dict[str, list[str]]:
    return json.loads((definitions.DATA / "r4-summary-elements.json").read_text())


@lru_cache(maxsize=None)
def mandatory_elements(resource_type: str) -> tuple[str, ...]:
    elements = (definitions.structures().get(resource_type) or {}).get("elements", {})
    return tuple(path for path, el in elements.items() if path and "." not in path and el.get("min", 0) >= 1)


@lru_cache(maxsize=None)
def _kept(resource_type: str, mode: str, elements: tuple[str, ...] | None) -> frozenset[str]:
    if mode == "true":
        names: Iterable[str] = _summary_elements().get(resource_type, ())
    elif mode == "text":
        names = ("text", *mandatory_elements(resource_type))
    else:                                           # _elements
        names = (*(elements or ()), *mandatory_elements(resource_type))
    return frozenset(n.removesuffix("[x]") for n in names) | frozenset(ALWAYS)


def _is_kept(key: str, kept: frozenset[str], resource_type: str) -> bool:
    name = key[1:] if key.startswith("_") else key      # _birthDate follows birthDate
    if name in kept:
        return True
    # A choice element appears as its name plus a type: effective[x] -> effectiveDateTime.
    for i in range(1, len(name)):
        if name[i].isupper() and name[:i] in kept:
            return _is_choice(resource_type, name[:i])
    return False


@lru_cache(maxsize=None)
def _is_choice(resource_type: str, name: str) -> bool:
    elements = (definitions.structures().get(resource_type) or {}).get("elements", {})
    return f"{name}[x]" in elements


def shape(resource: dict, summary: str | None, elements: tuple[str, ...] | None) -> dict:
    """The resource as the client asked to see it (unchanged without _summary/_elements)."""
    if summary in (None, "false", "count") and elements is None:
        return resource
    if summary == "data":
        out = {k: v for k, v in resource.items() if k != "text"}
    else:
        rt = resource.get("resourceType", "")
        kept = _kept(rt, summary if summary in ("true", "text") else "elements", elements)
        out = {k: v for k, v in resource.items() if _is_kept(k, kept, rt)}
    meta = dict(out.get("meta") or {})
    tags = list(meta.get("tag") or [])
    if not any(t.get("code") == "SUBSETTED" for t in tags):
        tags.append(dict(SUBSETTED))
    meta["tag"] = tags
    out["meta"] = meta
    return out
