"""One error hierarchy, mapped to HTTP once.

Every failure in the core raises a ``FhirError`` (or a subclass) that carries its HTTP status and
one or more ``Issue``s; the REST edge turns it into an OperationOutcome with that status.
https://hl7.org/fhir/R4/operationoutcome.html
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    """One OperationOutcome.issue. ``code`` is from http://hl7.org/fhir/issue-type."""

    severity: str                   # fatal | error | warning | information
    code: str                       # invalid | structure | required | value | not-found | ...
    diagnostics: str                # English message
    expression: tuple[str, ...] = ()
    rule: str | None = None         # stable rule id, e.g. "evk-pc-1" or "obs-6"
    message_lv: str | None = None   # Latvian message (details.text)

    def to_fhir(self) -> dict:
        out: dict = {"severity": self.severity, "code": self.code}
        details: dict = {}
        if self.rule:
            details["coding"] = [{"system": "https://evk.example.lv/fhir/CodeSystem/validation-rule",
                                  "code": self.rule}]
        if self.message_lv:
            details["text"] = self.message_lv
        if details:
            out["details"] = details
        out["diagnostics"] = self.diagnostics
        if self.expression:
            out["expression"] = list(self.expression)
        return out


def operation_outcome(issues: list[Issue] | tuple[Issue, ...]) -> dict:
    return {"resourceType": "OperationOutcome", "issue": [i.to_fhir() for i in issues]}


@dataclass
class FhirError(Exception):
    status: int
    issues: list[Issue] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.status}: " + "; ".join(i.diagnostics for i in self.issues)

    @property
    def outcome(self) -> dict:
        return operation_outcome(self.issues)


def _one(status: int, code: str, message: str, expression: tuple[str, ...] = (), rule: str | None = None,
         severity: str = "error") -> FhirError:
    return FhirError(status, [Issue(severity, code, message, expression, rule)])


def bad_request(message: str, *, expression: tuple[str, ...] = (), code: str = "invalid",
                rule: str | None = None) -> FhirError:
    return _one(400, code, message, expression, rule)


def unprocessable(issues: list[Issue]) -> FhirError:
    return FhirError(422, issues)


def not_found(message: str) -> FhirError:
    return _one(404, "not-found", message)


def gone(message: str) -> FhirError:
    return _one(410, "deleted", message)


def conflict(message: str) -> FhirError:
    return _one(409, "conflict", message)


def precondition_failed(message: str) -> FhirError:
    return _one(412, "conflict", message)


def method_not_allowed(message: str) -> FhirError:
    return _one(405, "not-supported", message)


def forbidden(message: str) -> FhirError:
    return _one(403, "forbidden", message)


def multiple_matches(message: str) -> FhirError:
    return _one(412, "multiple-matches", message)
