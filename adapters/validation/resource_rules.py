"""Rules of the core specification that are not FHIRPath constraints in the definitions, but
that the reference validator enforces on every resource, checked on the values the walk reaches.

* Bundle (https://hl7.org/fhir/R4/bundle.html): ``fullUrl`` is an absolute URL
  (bundle.html#bundle-unique — relative ones are "Patient/1" and resolve nowhere); a link
  relation occurs once (bundle.html#links: self, first, next... each name one URL); search
  results carry their id (a match without id cannot be read back); a reference from an entry
  resolves (bundle.html#references: a relative one against the entry's fullUrl base) to one
  entry at most — two entries sharing the fullUrl it resolves to make it ambiguous (checked only
  when some fullUrl repeats, and not in a history, where versions share it).
* Coding.system names a code system, never a value set (terminologies.html#4.1: "a value set
  URL is not a code system").
* Narrative XHTML has only XML's own entities (narrative.html#xhtml: the div is XML, which knows
  no ``&nbsp;`` or ``&reg;``; numeric references are fine), and its internal hyperlinks — and
  the ``#fragment`` of a ``narrativeLink`` extension (extension-narrativelink.html: the link to
  the narrative that represents the element) —
  (``href="#x"``) land on an ``id``/``name`` in the narratives of the document they are part of
  (the outermost resource: a document Bundle links across its entries). That includes the
  ``#hc<id>/<name>`` form of generated narratives: its target is an anchor like any other (IPS
  narratives carry ``<a name="hc<id>/<name>">``), and the reference validator reports one that
  no anchor defines.
* Attachment.size is the number of bytes of ``data`` when both are given (datatypes.html#Attachment).
* A SearchParameter derived from an R4 one keeps its type and its bases (searchparameter.html:
  derivedFrom "the definition it is derived from ... constrains it"), and a composite one has
  at least two components; a CapabilityStatement's searchParam has the type of the definition
  it names.
* An Observation whose code is a vital sign conforms to the vital signs profile of that sign
  (observation-vitalsigns.html: "If implementations use this Observation resource to capture
  vital signs, they SHALL use the profiles"; the sign is recognised from its LOINC or SNOMED CT
  code as the reference validator does), of which the LOINC coding is checked here: a vital
  sign coded only in another system (SNOMED CT) is refused. Which of the sign's LOINC codes is
  used is not judged: the profiles want their own ("magic") code, but the Synthea data codes
  blood pressure as 55284-4 and oral temperature as 8331-1, and a record is not refused for that.
* A ValueSet filter whose value is given as an expression (the ``cqf-expression`` extension on
  ``filter._value``, parameterised by the ``valueset-parameter`` extensions of the ValueSet, as
  the reference validator reads them): the expression is FHIRPath (language ``text/fhirpath``),
  it parses, and the ``%variables`` it uses are declared parameters (or FHIRPath's own).
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
_INTERNAL_LINK = re.compile(r"""href\s*=\s*["']#([^"']+)["']""")
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
    if obj.get("type") != "history":
        _ambiguous_references(obj, expr, issues)


_RESTFUL = re.compile(r"(.*/)?[A-Za-z]+/[A-Za-z0-9\-.]{1,64}")


def _ambiguous_references(obj: dict, expr: str, issues: list[Issue]) -> None:
    entries = _items(obj.get("entry"))
    counts: dict[str, int] = {}
    for _, entry in entries:
        url = entry.get("fullUrl")
        if type(url) is str:
            counts[url] = counts.get(url, 0) + 1
    if all(n == 1 for n in counts.values()):
        return
    for i, entry in entries:
        full = entry.get("fullUrl")
        base = None
        if type(full) is str:
            m = _RESTFUL.fullmatch(full)
            base = m.group(1) if m else None
        for at, ref in _references(entry.get("resource"), f"{expr}.entry[{i}].resource"):
            if ref[:1] == "#" or "/_history/" in ref:
                continue
            target = ref if _ABSOLUTE.match(ref) else (base + ref if base and _RESTFUL.fullmatch(ref) else None)
            if target is not None and counts.get(target, 0) > 1:
                issues.append(issue("bdl-ref-ambiguous", f"{at}.reference", reference=ref, count=counts[target]))


def _references(value: Any, expr: str):  # noqa: ANN202 - yields (expression, reference)
    if type(value) is dict:
        ref = value.get("reference")
        if type(ref) is str:
            yield expr, ref
        for key, inner in value.items():
            if type(inner) in (dict, list):
                yield from _references(inner, f"{expr}.{key}")
    elif type(value) is list:
        for i, inner in enumerate(value):
            yield from _references(inner, f"{expr}[{i}]")


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


NARRATIVE_LINK = "http://hl7.org/fhir/StructureDefinition/narrativeLink"


def narrative_link(ext: dict, expr: str, issues: list[Issue], anchors: Anchors) -> None:
    for key in ("valueUrl", "valueUri"):
        value = ext.get(key)
        if type(value) is str and "#" in value:
            known = anchors()
            target = value.partition("#")[2]
            if known is not None and target not in known:
                issues.append(issue("xhtml-link-unresolved", f"{expr}.{key}", target=target))


def structure_definition(obj: dict, expr: str, issues: list[Issue], anchors: Anchors) -> None:
    url, base = obj.get("url"), obj.get("baseDefinition")
    if type(url) is str and type(base) is str and base.split("|", 1)[0] == url:
        issues.append(issue("sd-derived-from-itself", f"{expr}.baseDefinition", url=url))


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


LOINC, SNOMED = "http://loinc.org", "http://snomed.info/sct"
# vital signs profile -> (its LOINC code, LOINC codes that imply it, SNOMED CT codes that imply it)
VITAL_SIGNS: dict[str, tuple[str, frozenset[str], frozenset[str]]] = {
    "vitalspanel": ("85353-1", frozenset({"85353-1"}), frozenset({"46680005"})),
    "resprate": ("9279-1", frozenset({"9279-1", "76170-0", "76172-6", "76171-8", "19840-8", "33438-3", "76270-8",
                                      "11291-2"}), frozenset({"86290005", "271625008", "271306003"})),
    "heartrate": ("8867-4", frozenset({"60978-4", "73795-7", "73799-9", "76476-1", "76477-9", "8867-4", "8889-8",
                                       "8890-6", "8891-4", "8892-2", "8893-0", "40443-4", "55425-3", "68999-2",
                                       "11328-2", "69000-8", "8886-4"}),
                  frozenset({"271306003", "249043002", "444981005", "399017001", "251670001", "429525003",
                             "429614003"})),
    "oxygensat": ("2708-6", frozenset({"2708-6", "19224-5", "20564-1", "2709-4", "2710-2", "2713-6", "51733-4",
                                       "59408-5", "59417-6", "89276-0", "97549-0"}),
                  frozenset({"442476006", "431314004"})),
    "bodytemp": ("8310-5", frozenset({"8310-5", "60834-9", "60835-6", "60836-4", "60838-0", "60955-2", "61009-7",
                                      "75539-7", "75987-8", "76010-8", "76011-6", "76278-1", "8309-7", "8328-7",
                                      "8329-5", "8330-3", "8331-1", "8332-9", "8333-7", "8334-5", "91371-5",
                                      "98657-0", "98663-8"}),
                 frozenset({"386725007", "276885007", "300076005", "1222808002", "364246006", "307047009",
                            "708499008", "431598003", "698831002", "698832009", "415882003", "415974002",
                            "415929009", "415945006"})),
    "bodyheight": ("8302-2", frozenset({"8302-2", "3137-7", "3138-5", "8306-3", "8308-9"}),
                   frozenset({"1153637007", "1162419008", "50373000", "1162418000", "1230278008", "1162392001",
                              "1162417005"})),
    "headcircum": ("9843-4", frozenset({"9843-4", "8287-5"}),
                   frozenset({"363812007", "169876006", "1269262007", "363811000"})),
    "bodyweight": ("29463-7", frozenset({"29463-7", "3141-9", "3142-7", "75292-3", "79348-9", "8350-1", "8351-9"}),
                   frozenset({"735395000", "425024002", "424927000", "784399000", "1162416001", "1162415002"})),
    "bmi": ("39156-5", frozenset({"39156-5", "89270-3"}), frozenset({"60621009"})),
    "bp": ("85354-9", frozenset({"85354-9", "35094-2", "8459-0", "76534-7", "55284-4", "8480-6"}),
           frozenset({"251076008", "163033001", "163035008", "386534000", "386536003", "271649006", "271650006",
                      "407556006", "407554009", "716579001", "399304008"})),
}


def _vital_sign(codings: list[tuple[str, str]]) -> str | None:
    """The vital signs profile a set of (system, code) implies: LOINC first, then SNOMED CT, in
    the order of the reference validator's table."""
    for system, column in ((LOINC, 1), (SNOMED, 2)):
        for name, row in VITAL_SIGNS.items():
            if any(s == system and c in row[column] for s, c in codings):  # type: ignore[operator]
                return name
    return None


def observation(obj: dict, expr: str, issues: list[Issue], anchors: Anchors) -> None:
    code = obj.get("code")
    codings = code.get("coding") if type(code) is dict else None
    if type(codings) is not list:
        return
    pairs = [(c.get("system"), c.get("code")) for c in codings if type(c) is dict]
    profile = _vital_sign(pairs)  # type: ignore[arg-type]
    if profile is not None and not any(s == LOINC and c in VITAL_SIGNS[profile][1] for s, c in pairs):
        issues.append(issue("obs-vital-sign-code", f"{expr}.code", profile=profile, code=VITAL_SIGNS[profile][0]))


CQF_EXPRESSION = "http://hl7.org/fhir/StructureDefinition/cqf-expression"
VS_PARAMETER = "http://hl7.org/fhir/tools/StructureDefinition/valueset-parameter"
_VARIABLE = re.compile(r"""'(?:[^'\\]|\\.)*'|%(`[^`]*`|[A-Za-z_][\w-]*)""")
_FHIRPATH_VARIABLES = frozenset({"resource", "rootResource", "context", "ucum", "sct", "loinc", "us-zip"})


def value_set(obj: dict, expr: str, issues: list[Issue], anchors: Anchors) -> None:
    compose = obj.get("compose")
    if type(compose) is not dict:
        return
    params = None
    for key in ("include", "exclude"):
        for i, inc in _items(compose.get(key)):
            for f, flt in _items(inc.get("filter")):
                value = flt.get("_value")
                for e, ext in _items(value.get("extension") if type(value) is dict else None):
                    if ext.get("url") == CQF_EXPRESSION and type(ext.get("valueExpression")) is dict:
                        if params is None:
                            params = _parameters(obj)
                        _filter_expression(ext["valueExpression"], params,
                                           f"{expr}.compose.{key}[{i}].filter[{f}]._value.extension[{e}].valueExpression",
                                           issues)


def _parameters(obj: dict) -> frozenset:
    return frozenset(part.get("valueCode") for _, ext in _items(obj.get("extension")) if ext.get("url") == VS_PARAMETER
                     for _, part in _items(ext.get("extension")) if part.get("url") == "name")


def _filter_expression(expression: dict, params: frozenset, at: str, issues: list[Issue]) -> None:
    language, text = expression.get("language"), expression.get("expression")
    if type(language) is str and language != "text/fhirpath":
        issues.append(issue("vs-filter-expression", at, problem=f"the language must be text/fhirpath, not {language}",
                            problem_lv=f"valodai jābūt text/fhirpath, nevis {language}"))
        return
    if type(text) is not str:
        return
    try:
        from fhirpathpy import compile as fhirpath_compile
        fhirpath_compile(text)
    except Exception:  # noqa: BLE001 - any parser failure means the text is not FHIRPath
        issues.append(issue("vs-filter-expression", at, problem=f"{text!r} is not a valid FHIRPath expression",
                            problem_lv=f"{text!r} nav derīga FHIRPath izteiksme"))
        return
    for m in _VARIABLE.finditer(text):
        name = (m.group(1) or "").strip("`")
        if name and name not in params and name not in _FHIRPATH_VARIABLES and not name.startswith(("vs-", "ext-")):
            issues.append(issue("vs-filter-expression", at, problem=f"%{name} is not a parameter of the value set",
                                problem_lv=f"%{name} nav vērtību kopas parametrs"))


# type name -> check(value, expression, issues, anchors), run by the structure walk on each such value
RULES = {"Bundle": bundle, "Coding": coding, "Narrative": narrative, "Attachment": attachment,
         "SearchParameter": search_parameter, "Observation": observation,
         "ValueSet": value_set, "StructureDefinition": structure_definition, "CapabilityStatement": capability_statement}
