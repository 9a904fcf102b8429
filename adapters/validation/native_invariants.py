"""Python versions of the R4 invariants that are evaluated often, so the FHIRPath engine is not.

https://hl7.org/fhir/R4/conformance-rules.html#constraints — each function answers the same
question as the FHIRPath text beside it, for one node: does the constraint hold? A native
version is used only when the definitions carry exactly that text (a changed definition falls
back to FHIRPath), and tests compare both on the official examples.

As in FHIRPath, an element "exists" when it has a value or only extensions (``_name``).
"""
from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

# test(node, %resource, %rootResource) -> holds?
NativeTest = Callable[[Any, dict, dict], bool]


def _exists(node: Any, name: str) -> bool:
    return type(node) is dict and (name in node or "_" + name in node)


def _contained(node: Any) -> list:
    found = node.get("contained") if type(node) is dict else None
    return [c for c in found if type(c) is dict] if type(found) is list else []


def dom_2(node: Any, resource: dict, root: dict) -> bool:
    return not any(_exists(c, "contained") for c in _contained(node))


def _local_refs(value: Any, out: set[str]) -> None:
    """Every string starting with '#' below ``value``: references, canonicals, uris, urls."""
    if type(value) is dict:
        for v in value.values():
            _local_refs(v, out)
    elif type(value) is list:
        for v in value:
            _local_refs(v, out)
    elif type(value) is str and value[:1] == "#":
        out.add(value)


def unreferenced_contained(node: Any, resource: dict) -> list[int]:
    """Indexes of the contained resources nothing points to (dom-3's failures)."""
    contained = _contained(node)
    if not contained:
        return []
    refs: set[str] = set()
    _local_refs(resource, refs)
    out = []
    for i, c in enumerate(contained):
        cid = c.get("id")
        if type(cid) is str and "#" + cid in refs:
            continue
        inner: set[str] = set()       # or it points back to its container with "#"
        _local_refs(c, inner)
        if "#" not in inner:
            out.append(i)
    return out


def dom_3(node: Any, resource: dict, root: dict) -> bool:
    return not unreferenced_contained(node, resource)


def _dom_3_where(node: Any, resource: dict) -> list[str]:
    return [f"contained[{i}]" for i in unreferenced_contained(node, resource)]


def dom_4(node: Any, resource: dict, root: dict) -> bool:
    for c in _contained(node):
        meta = c.get("meta")
        if _exists(meta, "versionId") or _exists(meta, "lastUpdated"):
            return False
    return True


def dom_5(node: Any, resource: dict, root: dict) -> bool:
    return not any(_exists(c.get("meta"), "security") for c in _contained(node))


def ref_1(node: Any, resource: dict, root: dict) -> bool:
    ref = node.get("reference") if type(node) is dict else None
    if type(ref) is not str or ref[:1] != "#" or ref == "#":
        # "#" alone is the container itself (references.html#contained); the R4 FHIRPath text
        # would wrongly fail it, so the native version follows the prose.
        return True
    return any(c.get("id") == ref[1:] for c in _contained(root))


def _absent_or(first: str, then: str) -> NativeTest:
    """``first.empty() or then.exists()``."""
    def test(node: Any, resource: dict, root: dict) -> bool:
        return type(node) is not dict or first not in node or _exists(node, then)
    return test


def _moment(value: str) -> tuple[tuple[int, ...], str | None]:
    """A date/dateTime as its components (year, month, day, hour, minute) and timezone."""
    date, _, time = value.partition("T")
    parts = [int(p) for p in date.split("-")]
    zone = None
    if time:
        for sign in ("Z", "+", "-"):
            if sign in time:
                clock, _, rest = time.partition(sign)
                zone = sign + rest
                break
        else:
            clock = time
        hour, minute = clock.split(":")[:2]
        parts += [int(hour), int(minute)]
        seconds = clock.split(":")[2] if clock.count(":") >= 2 else "0"
        parts.append(round(float(seconds) * 1000))
    return tuple(parts), zone


def _utc(parts: tuple[int, ...], zone: str | None) -> tuple[int, ...]:
    moment = datetime(*parts[:5]) + timedelta(milliseconds=parts[5])
    if zone and zone != "Z":
        hours, minutes = zone[1:].split(":")
        offset = timedelta(hours=int(hours), minutes=int(minutes))
        moment = moment - offset if zone[0] == "+" else moment + offset
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute,
            moment.second * 1000 + moment.microsecond // 1000)


def per_1(node: Any, resource: dict, root: dict) -> bool:
    """``start.hasValue().not() or end.hasValue().not() or (start <= end)``.

    FHIRPath compares date/times at the precision both have; values equal that far but of
    different precision compare as empty, and an invariant holds only when it is true, so
    ``2023-06-21`` .. ``2023-06-21T06:20:00Z`` fails, as with the Java reference validator.
    """
    start = node.get("start") if type(node) is dict else None
    end = node.get("end") if type(node) is dict else None
    if type(start) is not str or type(end) is not str:
        return True
    # Fast paths: dates compare as text, and so do dateTimes written alike (same length,
    # same fraction and offset).
    if "T" not in start and "T" not in end:
        common = min(len(start), len(end))
        if start[:common] != end[:common]:
            return start[:common] < end[:common]
        return len(start) == len(end)
    if len(start) == len(end) and start[19:] == end[19:]:
        return start <= end
    try:
        a, zone_a = _moment(start)
        b, zone_b = _moment(end)
        if len(a) == len(b) == 6:
            a, b = _utc(a, zone_a), _utc(b, zone_b)
    except ValueError:
        return True     # not a valid dateTime: the structure check already reported it
    common = min(len(a), len(b))
    if a[:common] != b[:common]:
        return a[:common] < b[:common]
    return len(a) == len(b)


def _choice_exists(node: Any, base: str) -> bool:
    """``value.exists()`` on a choice element: any ``valueX`` or ``_valueX`` property."""
    if type(node) is not dict:
        return False
    cut = len(base)
    for key in node:
        if key[:1] == "_":
            key = key[1:]
        if key[:cut] == base and key[cut:cut + 1].isupper():
            return True
    return False


def _codings(node: Any, name: str) -> list[dict]:
    concept = node.get(name) if type(node) is dict else None
    codings = concept.get("coding") if type(concept) is dict else None
    return [c for c in codings if type(c) is dict] if type(codings) is list else []


def _coded(node: Any, name: str, system: str, codes: tuple[str, ...]) -> bool:
    """``name.coding.where(system = S and code in codes).exists()``."""
    return any(c.get("system") == system and c.get("code") in codes for c in _codings(node, name))


def obs_6(node: Any, resource: dict, root: dict) -> bool:
    return not (_exists(node, "dataAbsentReason") and _choice_exists(node, "value"))


def obs_7(node: Any, resource: dict, root: dict) -> bool:
    """A value and a component with the same code as the Observation itself do not mix."""
    if not _choice_exists(node, "value"):
        return True
    own = _codings(resource, "code")
    components = node.get("component")
    if not own or type(components) is not list:
        return True
    return not any(c in own for comp in components for c in _codings(comp, "code"))


_CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def con_4(node: Any, resource: dict, root: dict) -> bool:
    return (not _choice_exists(node, "abatement")
            or _coded(node, "clinicalStatus", _CONDITION_CLINICAL, ("resolved", "remission", "inactive")))


def con_5(node: Any, resource: dict, root: dict) -> bool:
    return (not _coded(node, "verificationStatus", _CONDITION_VERIFICATION, ("entered-in-error",))
            or not _exists(node, "clinicalStatus"))


def ait_1(node: Any, resource: dict, root: dict) -> bool:
    return (_coded(node, "verificationStatus", _ALLERGY_VERIFICATION, ("entered-in-error",))
            or _exists(node, "clinicalStatus"))


def ait_2(node: Any, resource: dict, root: dict) -> bool:
    return (not _coded(node, "verificationStatus", _ALLERGY_VERIFICATION, ("entered-in-error",))
            or not _exists(node, "clinicalStatus"))


def _entries(bundle: Any) -> list[dict]:
    found = bundle.get("entry") if type(bundle) is dict else None
    return [e for e in found if type(e) is dict] if type(found) is list else []


def _bundle_type_says(part: str, types: tuple[str, ...]) -> NativeTest:
    """bdl-3/bdl-4: ``entry.all(part.exists() = (%resource.type in types))``. A Bundle without a
    type is left to the cardinality check rather than failing every entry here too."""
    def test(node: Any, resource: dict, root: dict) -> bool:
        kind = resource.get("type")
        if type(kind) is not str:
            return True
        wanted = kind in types
        return all(_exists(e, part) == wanted for e in _entries(node))
    return test


def bdl_1(node: Any, resource: dict, root: dict) -> bool:
    return not _exists(node, "total") or node.get("type") in ("searchset", "history")


def bdl_2(node: Any, resource: dict, root: dict) -> bool:
    return node.get("type") == "searchset" or not any(_exists(e, "search") for e in _entries(node))


def bdl_5(node: Any, resource: dict, root: dict) -> bool:
    return _exists(node, "resource") or _exists(node, "request") or _exists(node, "response")


def bdl_7(node: Any, resource: dict, root: dict) -> bool:
    """No two entries share fullUrl (+ meta.versionId), except in a history Bundle."""
    if node.get("type") == "history":
        return True
    seen: set[tuple[Any, Any]] = set()
    for e in _entries(node):
        if not _exists(e, "fullUrl"):
            continue
        res = e.get("resource")
        meta = res.get("meta") if type(res) is dict else None
        key = (e.get("fullUrl"), meta.get("versionId") if type(meta) is dict else None)
        if key in seen:
            return False
        seen.add(key)
    return True


def bdl_8(node: Any, resource: dict, root: dict) -> bool:
    url = node.get("fullUrl") if type(node) is dict else None
    return type(url) is not str or "/_history/" not in url


def org_1(node: Any, resource: dict, root: dict) -> bool:
    return bool(node.get("identifier")) or _exists(node, "name")


def not_home(node: Any, resource: dict, root: dict) -> bool:
    """org-2/org-3 on each address/telecom: ``where(use = 'home').empty()``."""
    return type(node) is not dict or node.get("use") != "home"


# narrative.html#xhtml and the HTML 4.0 chapters txt-1 names: the formatting elements, tables,
# lists, links and images; no scripts, forms, frames, objects, head/body or event attributes.
XHTML_ELEMENTS = frozenset({
    "div", "p", "br", "h1", "h2", "h3", "h4", "h5", "h6", "a", "span", "b", "em", "i", "strong", "small",
    "big", "tt", "dfn", "q", "var", "abbr", "acronym", "cite", "blockquote", "hr", "address", "bdo", "kbd",
    "sub", "sup", "ul", "ol", "li", "dl", "dt", "dd", "pre", "table", "caption", "colgroup", "col", "thead",
    "tr", "tfoot", "tbody", "th", "td", "code", "samp", "img", "map", "area"})
_TAG = re.compile(r"<([A-Za-z][\w:.-]*)((?:[^>\"']|\"[^\"]*\"|'[^']*')*)>")
_EVENT_ATTRIBUTE = re.compile(r"(?:^|\s)on[a-z]+\s*=", re.I)
_MARKUP = re.compile(r"<[^>]*>")


def txt_1(node: Any, resource: dict, root: dict) -> bool:
    """``htmlChecks()``, the element and attribute part."""
    if type(node) is not str:
        return True
    for name, attributes in _TAG.findall(node):
        if name.lower() not in XHTML_ELEMENTS or (attributes and _EVENT_ATTRIBUTE.search(attributes)):
            return False
    return True


def txt_2(node: Any, resource: dict, root: dict) -> bool:
    """``htmlChecks()``, the content part: some text (or an image) inside the div."""
    return type(node) is not str or "<img" in node or bool(_MARKUP.sub("", node).strip())


def rng_2(node: Any, resource: dict, root: dict) -> bool:
    """``low.empty() or high.empty() or (low <= high)`` for a Range of quantities. fhirpathpy
    cannot compare quantities without UCUM; here values in the same unit are compared and
    values in different units are taken as comparable only by a unit converter, so they pass."""
    low = node.get("low") if type(node) is dict else None
    high = node.get("high") if type(node) is dict else None
    if type(low) is not dict or type(high) is not dict:
        return True
    a, b = low.get("value"), high.get("value")
    if type(a) not in (int, float) or type(b) not in (int, float):
        return True
    same_unit = ((low.get("system"), low.get("code")) == (high.get("system"), high.get("code"))
                 and (low.get("code") is not None or low.get("unit") == high.get("unit")))
    return not same_unit or a <= b


# key -> (the exact R4 expression it replaces, implementation)
NATIVE: dict[str, tuple[str, NativeTest]] = {
    "dom-2": ("contained.contained.empty()", dom_2),
    "dom-4": ("contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()", dom_4),
    "dom-5": ("contained.meta.security.empty()", dom_5),
    "ref-1": ("reference.startsWith('#').not() or (reference.substring(1).trace('url') in "
              "%rootResource.contained.id.trace('ids'))", ref_1),
    "per-1": ("start.hasValue().not() or end.hasValue().not() or (start <= end)", per_1),
    "qty-3": ("code.empty() or system.exists()", _absent_or("code", "system")),
    "cpt-2": ("value.empty() or system.exists()", _absent_or("value", "system")),
    "att-1": ("data.empty() or contentType.exists()", _absent_or("data", "contentType")),
    "obs-6": ("dataAbsentReason.empty() or value.empty()", obs_6),
    "obs-7": ("value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists())"
              ".empty()", obs_7),
    "con-4": ("abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/"
              "CodeSystem/condition-clinical' and (code='resolved' or code='remission' or "
              "code='inactive')).exists()", con_4),
    "con-5": ("verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/"
              "condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()", con_5),
    "ait-1": ("verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/"
              "allergyintolerance-verification' and code = 'entered-in-error').exists() or "
              "clinicalStatus.exists()", ait_1),
    "ait-2": ("verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/"
              "allergyintolerance-verification' and code = 'entered-in-error').empty() or "
              "clinicalStatus.empty()", ait_2),
    "bdl-1": ("total.empty() or (type = 'searchset') or (type = 'history')", bdl_1),
    "bdl-2": ("entry.search.empty() or (type = 'searchset')", bdl_2),
    "bdl-3": ("entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or "
              "%resource.type = 'history'))", _bundle_type_says("request", ("batch", "transaction", "history"))),
    "bdl-4": ("entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = "
              "'transaction-response' or %resource.type = 'history'))",
              _bundle_type_says("response", ("batch-response", "transaction-response", "history"))),
    "bdl-5": ("resource.exists() or request.exists() or response.exists()", bdl_5),
    "bdl-7": ("(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId)"
              ".isDistinct()", bdl_7),
    "bdl-8": ("fullUrl.exists() implies fullUrl.contains('/_history/').not()", bdl_8),
    "rng-2": ("low.empty() or high.empty() or (low <= high)", rng_2),
    "org-1": ("(identifier.count() + name.count()) > 0", org_1),
    "txt-1": ("htmlChecks()", txt_1),
    "txt-2": ("htmlChecks()", txt_2),
    "org-2": ("where(use = 'home').empty()", not_home),
    "org-3": ("where(use = 'home').empty()", not_home),
}
# dom-3 has two spellings in R4 (the ``id.exists()`` guard differs); both mean the same here.
for _expression in (
    "contained.where(((id.exists() and ('#'+id in (%resource.descendants().reference | "
    "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
    "%resource.descendants().as(url)))) or descendants().where(reference = '#').exists() or "
    "descendants().where(as(canonical) = '#').exists() or descendants().where(as(uri) = '#')"
    ".exists()).not()).trace('unmatched', id).empty()",
    "contained.where((('#'+id in (%resource.descendants().reference | "
    "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
    "%resource.descendants().as(url))) or descendants().where(reference = '#').exists() or "
    "descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#')"
    ".exists()).not()).trace('unmatched', id).empty()",
):
    NATIVE.setdefault("dom-3:" + _expression, (_expression, dom_3))


# Where a failure is more exactly located than the node the constraint sits on: key ->
# function(node, %resource) -> paths relative to the node.
LOCATE: dict[str, Callable[[Any, dict], list[str]]] = {"dom-3": _dom_3_where}


def native_test(key: str, expression: str) -> NativeTest | None:
    """The native implementation of constraint ``key`` if it is exactly ``expression``."""
    for candidate in (key, f"{key}:{expression}"):
        entry = NATIVE.get(candidate)
        if entry is not None and entry[0] == expression:
            return entry[1]
    return None
