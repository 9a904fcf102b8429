"""The sandbox: ``$validate`` (https://hl7.org/fhir/R4/resource-operation-validate.html).

``POST [base]/$validate`` and ``POST [base]/[type]/$validate`` take a resource, or a
Parameters with a ``resource`` parameter, run everything a national submission goes through —
structure, invariants, the national rules in their submission tier, and for a transaction
Bundle the envelope and reference resolution inside the Bundle and in the store — and answer
200 with an OperationOutcome listing every issue (or one information issue). Nothing is stored.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from adapters.validation import StructureValidator
from adapters.validation.options import NATIONAL_SUBMISSION
from ehr_core import errors
from ehr_core.errors import Issue, operation_outcome
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.storage.repository import Session

from .rules import issue
from .submission import envelope
from .validator import NationalValidator

if TYPE_CHECKING:
    from ehr_core.rest.handler import Handler

DEFINITION = "http://hl7.org/fhir/OperationDefinition/Resource-validate"


def submission_validator(h: Handler) -> NationalValidator:
    """The submission tier: every national rule on every resource, and the structural
    validator's switches for real records (no markup in strings, no example URLs)."""
    v = getattr(h, "_sandbox_validator", None)
    if v is None:
        structure = getattr(h.validator, "structure", None) or StructureValidator()
        v = NationalValidator(structure.with_options(NATIONAL_SUBMISSION), enforce="all")
        h._sandbox_validator = v  # type: ignore[attr-defined]
    return v


def _payload(req: FhirRequest) -> tuple[object, str | None]:
    """The resource to validate and the requested mode (create | update | delete)."""
    body = req.body
    mode = dict(req.query).get("mode")
    if type(body) is dict and body.get("resourceType") == "Parameters":
        resource = None
        for p in body.get("parameter") or []:
            if type(p) is not dict:
                continue
            if p.get("name") == "resource":
                resource = p.get("resource")
            elif p.get("name") == "mode":
                mode = p.get("valueCode") or mode
        if resource is None:
            raise errors.bad_request("Parameters has no 'resource' parameter", expression=("Parameters.parameter",))
        return resource, mode
    return body, mode


def validate_issues(h: Handler, s: Session, resource: object, rt: str | None, mode: str | None) -> list[Issue]:
    if type(resource) is not dict:
        raise errors.bad_request("$validate takes a FHIR resource (a JSON object)")
    found = resource.get("resourceType")
    if rt is not None and found != rt:
        return [issue("evk-resource-type-endpoint", rt, expected=rt, found=found)]
    if mode == "update":
        from ehr_core.rest.handler import without_server_meta
        resource = without_server_meta(resource)

    exists = h.exists_in(s)
    issues: list[Issue] = []
    if found == "Bundle" and resource.get("type") in ("transaction", "batch"):
        issues += envelope(resource, submission=True)
    # A single resource is judged as a plain create unless mode says otherwise (#36).
    owner = h.identifier_owner(s) if found != "Bundle" and mode in (None, "create") else None
    issues += submission_validator(h).validate(resource, exists=exists, owner=owner)
    return issues


def validate(req: FhirRequest, s: Session, h: Handler) -> FhirResponse:
    resource, mode = _payload(req)
    rt = req.segments[0] if len(req.segments) == 2 else None
    issues = validate_issues(h, s, resource, rt, mode)
    if h.submissions is not None:
        h.submissions.sandbox_run(req, s, resource, issues)     # a system's run is logged, marked sandbox
    if not issues:
        issues = [issue("evk-valid", "", severity="information")]
        issues = [Issue(i.severity, i.code, i.diagnostics, (), i.rule, i.message_lv) for i in issues]
    return FhirResponse(200, operation_outcome(issues))


validate.definition = DEFINITION  # type: ignore[attr-defined]


def register(h: Handler) -> None:
    h.operations[(None, "$validate", False)] = validate
    for rt in h.resource_types:
        h.operations[(rt, "$validate", False)] = validate
