"""Rules of the core specification that are not FHIRPath constraints in the definitions, but
that the reference validator enforces on every resource, checked on the values the walk reaches.

* Bundle (https://hl7.org/fhir/R4/bundle.html): ``fullUrl`` is an absolute URL
  (bundle.html#bundle-unique — relative ones are "Patient/1" and resolve nowhere); a link
  relation occurs once (bundle.html#links: self, first, next... each name one URL); search
  results carry their id (a match without id cannot be read back).
* Coding.system names a code system, never a value set (terminologies.html#4.1: "a value set
  URL is not a code system").
* Narrative XHTML has only XML's own entities (narrative.html#xhtml: the div is XML, which knows
  no ``&nbsp;`` or ``&reg;``; numeric references are fine), and its internal hyperlinks
  (``href="#x"``) land on an ``id``/``name`` in the narratives of the document they are part of
  (the outermost resource: a document Bundle links across its entries). The ``#hc<id>/...`` form
  of IPS narrative links addresses a resource rather than an anchor and is not judged here.
* Attachment.size is the number of bytes of ``data`` when both are given (datatypes.html#Attachment).
* A SearchParameter derived from an R4 one keeps its type and its bases (searchparameter.html:
  derivedFrom "the definition it is derived from ... constrains it"), and a composite one has
  at least two components; a CapabilityStatement's searchParam has the type of the definition
  it names.
"""
from __future__ import annotations

import base64
import binascii
import re
from functools import lru_cache
from collections.abc import Callable
from typing import Any

from ehr_core.definitions import search_parameters
from ehr_core.errors import Issue

from .messages import issue

_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_ENTITY = re.compile(r"&([A-Za-z][A-Za-z0-9]*);")
_INTERNAL_LINK = re.compile(r"""href\s*=\s*["']#([^"'/]+)["']""")
_ANCHOR = re.compile(r"""\b(?:id|name)\s*=\s*["']([^"']+)["']""")
XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
VALUE_SET_BASE = "http://hl7.org/fhir/ValueSet/"


def _items(value: Any) -> list[tuple[int, dict]]:
    return [(i, v) for i, v in enumerate(value) if type(v) is dict] if type(value) is list else []


# anchors() -> the id/name values in every narrative of the outermost resource (computed once),
# None when the walk sees only part of the document
Anchors = Callable[[], "frozenset | None"]


def anchors_in(document: Any) -> frozenset:
    found: set[str] = set()
    stack = [document]
    while stack:
        value = stack.pop()
        if type(value) is dict:
            div = value.get("div")
            if type(div) is str:
                found.update(_ANCHOR.findall(div))
            stack.extend(v for v in value.values() if type(v) in (dict, list))
        elif type(value) is list:
            stack.extend(v for v in value if type(v) in (dict, list))
    return frozenset(found)


def bundle(obj: dict, expr: str, issues: list[Issue], anchors: Anchors) -> None:
    seen: set[str] = set()
    for i, link in _items(obj.get("link")):
        relation = link.get("relation")
        if type(relation) is str:
            if relation in seen:
                issues.append(issue("bdl-link-repeated", f"{expr}.link[{i}]", relation=relation))
            seen.add(relation)
    searchset = obj.get("type") == "searchset"
    for i, entry in _items(obj.get("entry")):
        url = entry.get("fullUrl")
        if type(url) is str and url and not _ABSOLUTE.match(url):
            issues.append(issue("bdl-fullurl-relative", f"{expr}.entry[{i}].fullUrl", url=url))
        resource = entry.get("resource")
        if (searchset and type(resource) is dict and "id" not in resource
                and resource.get("resourceType") != "OperationOutcome"):
            issues.append(issue("bdl-search-id", f"{expr}.entry[{i}].resource"))


def coding(obj: dict, expr: str, issues: list[Issue], anchors: Anchors) -> None:
    system = obj.get("system")
    if type(system) is str and system.startswith(VALUE_SET_BASE):
        issues.append(issue("coding-system-value-set", f"{expr}.system", system=system))


def narrative(obj: dict, expr: str, issues: list[Issue], anchors: Anchors) -> None:
    div = obj.get("div")
    if type(div) is not str:
        return
    if "&" in div:
        for m in _ENTITY.finditer(div):
            if m.group(1) not in XML_ENTITIES:
                issues.append(issue("xhtml-entity", f"{expr}.div", entity=m.group()))
                break
    known = anchors() if "#" in div else None
    if known is not None:
        for target in _INTERNAL_LINK.findall(div):
            if target not in known:
                issues.append(issue("xhtml-link-unresolved", f"{expr}.div", target=target))


def attachment(obj: dict, expr: str, issues: list[Issue], anchors: Anchors) -> None:
    size, data = obj.get("size"), obj.get("data")
    if type(size) is not int or type(data) is not str:
        return
    try:
        actual = len(base64.b64decode(data, validate=True))
    except (binascii.Error, ValueError):
        return                                       # the base64Binary checker reports it
    if actual != size:
        issues.append(issue("att-size", f"{expr}.size", size=size, actual=actual))


@lru_cache(maxsize=None)
def _core_search_parameters() -> dict[str, dict]:
    return {sp["url"]: sp for sp in search_parameters() if sp.get("url")}


def search_parameter(obj: dict, expr: str, issues: list[Issue], anchors: Anchors) -> None:
    kind = obj.get("type")
    if kind == "composite":
        components = obj.get("component")
        if type(components) is not list or len(components) < 2:
            issues.append(issue("sp-composite-components", expr))
    parent = _core_search_parameters().get(obj.get("derivedFrom"))  # type: ignore[arg-type]
    if parent is None:
        return
    if type(kind) is str and kind != parent["type"]:
        issues.append(issue("sp-derived-type", f"{expr}.type", found=kind, expected=parent["type"],
                            parent=parent["url"]))
    bases = obj.get("base")
    for i, base in enumerate(bases if type(bases) is list else []):
        if type(base) is str and base not in parent["base"] and "Resource" not in parent["base"]:
            issues.append(issue("sp-derived-base", f"{expr}.base[{i}]", base=base, parent=parent["url"]))


def capability_statement(obj: dict, expr: str, issues: list[Issue], anchors: Anchors) -> None:
    core = _core_search_parameters()
    for r, rest in _items(obj.get("rest")):
        for t, resource in _items(rest.get("resource")):
            for p, param in _items(resource.get("searchParam")):
                definition = core.get(str(param.get("definition", "")).split("|", 1)[0])
                kind = param.get("type")
                if definition is not None and type(kind) is str and kind != definition["type"]:
                    issues.append(issue("sp-derived-type", f"{expr}.rest[{r}].resource[{t}].searchParam[{p}]",
                                        found=kind, expected=definition["type"], parent=definition["url"]))


# type name -> check(value, expression, issues, anchors), run by the structure walk on each such value
RULES = {"Bundle": bundle, "Coding": coding, "Narrative": narrative, "Attachment": attachment,
         "SearchParameter": search_parameter, "CapabilityStatement": capability_statement}
