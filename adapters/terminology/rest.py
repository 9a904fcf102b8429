"""The terminology service on the FHIR API: the classifiers readable and searchable read-only, and
``$expand``, ``$lookup`` and ``$validate-code`` (R4 operation definitions, GET with query
parameters or POST with a Parameters body). Terminology is not patient data: any signed-in
principal may call it, through the guard, and no patient audit is written.
"""
from __future__ import annotations

import copy
from urllib.parse import urlencode
from typing import TYPE_CHECKING

from ehr_core import errors
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.storage.repository import Session

from .catalog import KINDS
from .service import LookupResult, TerminologyError, Validation, terminology

if TYPE_CHECKING:
    from ehr_core.access.decision import Context, Decision
    from ehr_core.rest.handler import Handler

OPERATION_DEFINITION = "http://hl7.org/fhir/OperationDefinition/"
STATUS = {"not-found": 404, "too-costly": 422}          # other TerminologyError kinds: 400
SEARCH_PARAMS = {"url": "url", "version": "version", "name": "name", "title": "title", "status": "status", "_id": "id"}
IGNORED_PARAMS = {"_count", "_format", "_pretty", "_summary", "_total"}


# --- inputs ------------------------------------------------------------------------------------
def _inputs(req: FhirRequest) -> dict[str, object]:
    """Operation parameters from the query string and, on POST, a Parameters body (which wins)."""
    found: dict[str, object] = dict(req.query)
    body = req.body
    if req.method == "POST" and body is not None:
        if type(body) is not dict or body.get("resourceType") != "Parameters":
            raise errors.bad_request("POST an operation with a Parameters resource")
        for p in body.get("parameter") or []:
            if type(p) is not dict or type(p.get("name")) is not str:
                raise errors.bad_request("Each parameter needs a name", expression=("Parameters.parameter",))
            value = next((v for k, v in p.items() if k.startswith("value")), p.get("resource"))
            found[p["name"]] = value
    return found


def _text(inputs: dict[str, object], name: str, required: bool = False) -> str | None:
    value = inputs.get(name)
    if value is None:
        if required:
            raise errors.bad_request(f"Parameter {name!r} is required", expression=(name,), code="required")
        return None
    if type(value) is not str or not value:
        raise errors.bad_request(f"Parameter {name!r} must be a non-empty string", expression=(name,))
    return value


def _integer(inputs: dict[str, object], name: str) -> int | None:
    value = inputs.get(name)
    if value is None:
        return None
    if type(value) is int or (type(value) is str and value.isdigit()):
        return int(value)
    raise errors.bad_request(f"Parameter {name!r} must be a non-negative integer, not {value!r}", expression=(name,))


def _coding(inputs: dict[str, object]) -> list[dict]:
    """The codings to judge: ``code``/``system``/``display``, or ``coding``, or ``codeableConcept``."""
    code = _text(inputs, "code")
    if code is not None:
        return [{"code": code, "system": _text(inputs, "system"), "display": _text(inputs, "display")}]
    coding = inputs.get("coding")
    if type(coding) is dict:
        return [coding]
    concept = inputs.get("codeableConcept")
    if type(concept) is dict and type(concept.get("coding")) is list and concept["coding"]:
        return [c for c in concept["coding"] if type(c) is dict]
    raise errors.bad_request("Give code (with system), coding or codeableConcept", expression=("code",), code="required")


def _published(kind: str, id: str) -> dict:
    found = terminology().catalog.resources.get((kind, id))
    if found is None:
        raise errors.not_found(f"{kind}/{id} is not known")
    return found


def _target(req: FhirRequest, inputs: dict[str, object], kind: str, version_param: str) -> tuple[str, str | None]:
    """(url, version) of the resource an operation runs on: the instance, else the parameters."""
    if req.path_id:  # type: ignore[attr-defined]
        found = _published(kind, req.path_id)  # type: ignore[attr-defined]
        return found["url"], found.get("version")
    return _text(inputs, "url", required=True), _text(inputs, version_param)  # type: ignore[return-value]


def _answer(call):  # noqa: ANN001, ANN202
    try:
        return call()
    except TerminologyError as exc:
        raise errors.FhirError(STATUS.get(exc.kind, 400), [errors.Issue("error", exc.kind, exc.message)]) from None


# --- outputs -----------------------------------------------------------------------------------
def _parameters(*parts: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": [p for p in parts if p]}


def _lookup_parameters(found: LookupResult) -> dict:
    designations = [{"name": "designation", "part": [
        *([{"name": "language", "valueCode": d["language"]}] if d.get("language") else []),
        *([{"name": "use", "valueCoding": d["use"]}] if d.get("use") else []),
        {"name": "value", "valueString": d["value"]}]} for d in found.designations]
    properties = [{"name": "property", "part": [{"name": "code", "valueCode": code}, {"name": "value", kind: value}]}
                  for code, kind, value in found.properties]
    return _parameters({"name": "name", "valueString": found.name},
                       {"name": "version", "valueString": found.version} if found.version else {},
                       {"name": "display", "valueString": found.display} if found.display else {},
                       *designations, *properties)


def _validation_parameters(found: Validation) -> dict:
    return _parameters({"name": "result", "valueBoolean": found.result},
                       {"name": "message", "valueString": found.message} if found.message else {},
                       {"name": "display", "valueString": found.display} if found.display else {})


# --- operations --------------------------------------------------------------------------------
def expand(req: FhirRequest, s: Session, h: Handler) -> FhirResponse:
    """ValueSet/$expand and ValueSet/[id]/$expand (valueset-operation-expand.html)."""
    inputs = _inputs(req)
    service = terminology()
    if req.path_id:  # type: ignore[attr-defined]
        vs = _published("ValueSet", req.path_id)  # type: ignore[attr-defined]
    else:
        url = _text(inputs, "url", required=True)
        vs = _answer(lambda: service.value_set(url, _text(inputs, "valueSetVersion")))
    return FhirResponse(200, _answer(lambda: service.expand(
        vs, filter=_text(inputs, "filter"), offset=_integer(inputs, "offset") or 0, count=_integer(inputs, "count"))))


def lookup(req: FhirRequest, s: Session, h: Handler) -> FhirResponse:
    """CodeSystem/$lookup (codesystem-operation-lookup.html)."""
    inputs = _inputs(req)
    coding = inputs.get("coding") if type(inputs.get("coding")) is dict else {}
    system = _text(inputs, "system") or coding.get("system")
    code = _text(inputs, "code") or coding.get("code")
    if not system or not code:
        raise errors.bad_request("$lookup needs system and code (or coding)", expression=("code",), code="required")
    version = _text(inputs, "version") or coding.get("version")
    return FhirResponse(200, _lookup_parameters(_answer(lambda: terminology().lookup(system, code, version))))


def validate_value_set_code(req: FhirRequest, s: Session, h: Handler) -> FhirResponse:
    """ValueSet/$validate-code, type and instance level (valueset-operation-validate-code.html)."""
    inputs = _inputs(req)
    url, vs_version = _target(req, inputs, "ValueSet", "valueSetVersion")
    version = _text(inputs, "systemVersion")
    results = [_answer(lambda c=c: terminology().validate_in_value_set(
        url, c.get("code"), c.get("system"), version=version or c.get("version"), display=c.get("display"),
        value_set_version=vs_version)) for c in _coding(inputs)]
    return FhirResponse(200, _validation_parameters(_first_valid(results)))


def validate_system_code(req: FhirRequest, s: Session, h: Handler) -> FhirResponse:
    """CodeSystem/$validate-code, type and instance level (codesystem-operation-validate-code.html)."""
    inputs = _inputs(req)
    url, version = _target(req, inputs, "CodeSystem", "version")
    results = []
    for c in _coding(inputs):
        if c.get("system") not in (None, url):
            results.append(Validation(False, f"The code's system {c['system']!r} is not {url!r}"))
            continue
        results.append(_answer(lambda c=c: terminology().validate_in_system(
            url, c["code"], version or c.get("version"), c.get("display"))))
    return FhirResponse(200, _validation_parameters(_first_valid(results)))


def _first_valid(results: list[Validation]) -> Validation:
    """A CodeableConcept is valid when one of its codings is."""
    return next((r for r in results if r.result), results[0])


def search(req: FhirRequest, s: Session, h: Handler) -> FhirResponse:
    """CodeSystem / ValueSet search over the catalogue: url, version, name, title, status, _id."""
    kind = req.segments[0]
    criteria = []
    for name, value in req.query:
        base, _, modifier = name.partition(":")
        if base in IGNORED_PARAMS:
            continue
        if base not in SEARCH_PARAMS or modifier not in ("", "exact"):
            raise errors.bad_request(f"The terminology catalogue searches by {', '.join(SEARCH_PARAMS)}; "
                                     f"{name!r} is not supported", expression=(name,), code="not-supported")
        criteria.append((SEARCH_PARAMS[base], value.split(","), modifier == "exact" or base in ("url", "_id", "version", "status")))
    found = [r for r in terminology().catalog.of_kind(kind) if all(_matches(r, *c) for c in criteria)]
    bundle = {"resourceType": "Bundle", "type": "searchset", "total": len(found),
              "link": [{"relation": "self", "url": f"{h.base}/{req.path}" + (f"?{urlencode(req.query)}" if req.query else "")}],
              "entry": [{"fullUrl": f"{h.base}/{kind}/{r['id']}", "resource": copy.deepcopy(r), "search": {"mode": "match"}}
                        for r in found]}
    return FhirResponse(200, bundle)


def _matches(resource: dict, element: str, values: list[str], exact: bool) -> bool:
    """Token/uri parameters match exactly; string ones (name, title) case-insensitively from the start."""
    have = resource.get(element)
    if type(have) is not str:
        return False
    if exact:
        return have in values
    return any(have.casefold().startswith(v.casefold()) for v in values)


# --- wiring ------------------------------------------------------------------------------------
OPERATIONS = [
    ("ValueSet", "$expand", expand, "ValueSet-expand"),
    ("ValueSet", "$validate-code", validate_value_set_code, "ValueSet-validate-code"),
    ("CodeSystem", "$lookup", lookup, "CodeSystem-lookup"),
    ("CodeSystem", "$validate-code", validate_system_code, "CodeSystem-validate-code"),
]

for _rt, _name, _fn, _definition in OPERATIONS:      # what the CapabilityStatement lists
    _fn.definition = OPERATION_DEFINITION + _definition  # type: ignore[attr-defined]


def terminology_policy(ctx: Context) -> Decision:
    from ehr_core.access import rules as R
    from ehr_core.access.decision import Decision
    return Decision(R.allow(R.DIRECTORY, "terminology is not patient data"), audit=False)


def wire(handler: Handler) -> None:
    """Register the operations, publish the classifiers, route their searches here and give the
    operations their access policy (call after the guard is set)."""
    for rt, name, fn, _ in OPERATIONS:
        handler.operations[(rt, name, False)] = fn
        if name != "$lookup":                    # $lookup has no instance level in R4
            handler.operations[(rt, name, True)] = fn
    for key, resource in terminology().catalog.resources.items():
        handler.published[key] = resource
    for kind in KINDS:
        handler.published_searches[kind] = search
    from adapters.terminology.search_codes import ClassifierCodes
    from ehr_core.search import terminology as search_terminology
    search_terminology.source = ClassifierCodes()   # token :in, :not-in, :below, :above
    if handler.guard is not None:
        handler.guard.operations.update({(rt, name): terminology_policy for rt, name, _, _ in OPERATIONS})
