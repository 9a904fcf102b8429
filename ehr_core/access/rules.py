"""Rule identifiers and the verdict every access decision returns (HAPI's ``Verdict(decision,
decidingRule)``): the numbers are those of access-rules.md; the named ones cover what the rules
leave implicit (deny by default, directory data, SMART scopes, the trusted caller).
"""
from __future__ import annotations

from dataclasses import dataclass

from ehr_core import errors

RULE_SYSTEM = "https://evk.lv/fhir/CodeSystem/access-rule"

SELF = "1"
SELF_AUDIT_HIDDEN = "2"
GUARDIAN = "3"
REGISTER_CHANGE = "4"
SENSITIVE_14 = "5"
HIDDEN_BY_MINOR = "6"
GUARDIAN_DECLARATIONS = "7"
MINOR_NOTICES = "8"
PROXY_GRANT = "9"
PROXY_SCOPE = "10"
PROXY_PERIOD = "11"
PROXY_REVOKED = "12"
PROXY_NO_DELEGATION = "13"
PROXY_CEILING = "14"
FUTURE_AUTHORISATION = "15"
TREATING = "16"
BREAK_GLASS = "17"
BAN = "18"
PHARMACIST = "19"
DECLARATIONS = "20"
BACKEND_CLIENT = "21"
AUDIT_EVERY_ACCESS = "22"
AUDIT_APPEND_ONLY = "23"
AUDIT_VIEW = "24"
# Not numbered in access-rules.md:
DENY_BY_DEFAULT = "deny-by-default"
DIRECTORY = "directory"          # organisations, practitioners, locations, medications...
SCOPE = "smart-scope"            # a SMART scope does not cover the interaction
AUTHENTICATED = "authenticated"  # anonymous callers get the CapabilityStatement only

__all__ = ["Verdict", "Denied", "RULE_SYSTEM"]


def label(rule: str) -> str:
    return f"rule {rule}" if rule[0].isdigit() else rule


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    rule: str
    reason: str = ""
    status: int = 200          # for a denial: 403, or 404 where existence must not leak

    def error(self, reference: str | None = None) -> errors.FhirError:
        if self.status == 404:
            # Word for word what a read of an unknown id says: the rule must not show (rule 5).
            return errors.not_found(f"{reference or 'The resource'} is not known")
        code = "not-supported" if self.status == 405 else "forbidden"
        message = f"Access denied ({label(self.rule)}): {self.reason}"
        return errors.FhirError(self.status, [errors.Issue("error", code, message, rule=f"access-{self.rule}")])


def allow(rule: str, reason: str = "") -> Verdict:
    return Verdict(True, rule, reason)


def deny(rule: str, reason: str, status: int = 403) -> Verdict:
    return Verdict(False, rule, reason, status)


class Denied(Exception):
    """Raised inside the guard; carries the verdict and the patients the attempt concerned."""

    def __init__(self, verdict: Verdict, patients: tuple[str, ...] = ()):
        super().__init__(verdict.reason)
        self.verdict = verdict
        self.patients = patients
