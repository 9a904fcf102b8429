"""Reference rules (https://hl7.org/fhir/R4/references.html): the target must be of a type the
element allows (#9) and must resolve — inside the Bundle, among the contained resources, or
(when the caller gives a lookup) in the store (#8).
"""
from __future__ import annotations

import re
from collections.abc import Callable

from ehr_core.definitions import structures
from ehr_core.errors import Issue

from .rules import issue
from .walk import Visit, is_resource_type

_LITERAL = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[A-Za-z0-9\-.]{1,64})?$")
_CONDITIONAL = re.compile(r"^([A-Z][A-Za-z]+)\?")

# exists(resource type, id) -> is it in the store?
Exists = Callable[[str, str], bool]


def is_a(name: str, ancestor: str) -> bool:
    while name:
        if name == ancestor:
            return True
        name = (structures().get(name) or {}).get("base") or ""
    return False


def target_type(ref: str, v: Visit, bundle: dict[str, str]) -> str | None:
    """The resource type ``ref`` points to, if it can be told."""
    if ref in bundle:
        return bundle[ref]
    if ref.startswith("#"):
        if ref == "#":
            return v.root.get("resourceType")
        contained = v.root.get("contained")
        for c in contained if type(contained) is list else []:
            if type(c) is dict and c.get("id") == ref[1:]:
                return c.get("resourceType")
        return None
    m = _LITERAL.search(ref) or _CONDITIONAL.match(ref)
    return m.group(1) if m else None


def reference(v: Visit, bundle: dict[str, str], exists: Exists | None = None, *,
              severity: str = "error") -> list[Issue]:
    """``severity``: a wrong target type or an unresolved ``urn:uuid`` is an error in national
    submissions and a warning elsewhere, as in the reference validator (and four official R4
    examples point at types their element does not allow)."""
    ref = v.value.get("reference")
    if type(ref) is not str:
        return _declared_type(v, severity)
    where = f"{v.expr}.reference"
    if ref.startswith(("urn:uuid:", "urn:oid:")) and ref not in bundle:
        return [issue("evk-ref-unresolved", where, severity=severity, reference=ref)]
    found = target_type(ref, v, bundle)
    issues = _allowed(v, found, where, severity)
    if (exists is not None and found and is_resource_type(found) and ref not in bundle and "://" not in ref
            and not ref.startswith("#")):
        m = _LITERAL.search(ref)
        if m and m.start() == 0 and not issues and not exists(m.group(1), m.group(2)):
            issues.append(issue("evk-ref-unresolved", where, reference=ref))
    return issues


def _declared_type(v: Visit, severity: str) -> list[Issue]:
    declared = v.value.get("type")
    return _allowed(v, declared, f"{v.expr}.type", severity) if type(declared) is str else []


def _allowed(v: Visit, found: str | None, where: str, severity: str) -> list[Issue]:
    targets = v.targets
    if not found or not targets or "Resource" in targets or not is_resource_type(found):
        return []
    if any(is_a(found, t) for t in targets):
        return []
    return [issue("evk-ref-type", where, severity=severity, element=v.element, allowed=" | ".join(targets), found=found)]


def bundle_targets(bundle: dict) -> dict[str, str]:
    """fullUrl (and its ``Type/id`` tail for RESTful URLs) -> resource type of each entry."""
    out: dict[str, str] = {}
    entries = bundle.get("entry")
    for e in entries if type(entries) is list else []:
        res = e.get("resource") if type(e) is dict else None
        url = e.get("fullUrl") if type(e) is dict else None
        if type(res) is not dict or type(res.get("resourceType")) is not str:
            continue
        request = e.get("request")
        put = request.get("url") if type(request) is dict and request.get("method") == "PUT" else None
        if type(put) is str and _LITERAL.fullmatch(put):
            out[put] = res["resourceType"]
        if type(url) is not str:
            continue
        out[url] = res["resourceType"]
        m = _LITERAL.search(url)
        if m and not url.startswith("urn:"):
            out.setdefault(f"{m.group(1)}/{m.group(2)}", res["resourceType"])
    return out
