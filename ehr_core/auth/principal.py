"""Who is calling: the verified identity the access guard decides for.

A ``Principal`` comes only from a verified token (``tokens.authenticate``). ``FhirRequest.principal
is None`` means a trusted internal caller (``evk load``, the core's own tests) and never comes
from HTTP: the edge turns a request without a token into ``ANONYMOUS``, which may read the
CapabilityStatement and nothing else.
"""
from __future__ import annotations

from dataclasses import dataclass, field

PERSON = "person"              # signs in with eID (or the dev provider); acts for self, wards, grantors
PRACTITIONER = "practitioner"  # a person signed in as a clinician/pharmacist (Practitioner id)
SYSTEM = "system"              # a SMART Backend Services client of an organisation
ANONYMOUS_KIND = "anonymous"

__all__ = ["Principal", "BreakGlass", "ANONYMOUS", "PERSON", "PRACTITIONER", "SYSTEM"]


@dataclass(frozen=True)
class BreakGlass:
    """Rule 17: an emergency override for one patient, until ``expires`` (epoch seconds)."""
    patient_id: str
    reason: str
    expires: int
    review_id: str


@dataclass(frozen=True)
class Principal:
    kind: str
    subject: str                                  # personal code, or client id for systems
    name: str | None = None
    personal_code: str | None = None
    practitioner_id: str | None = None
    organization_id: str | None = None            # systems: the client's organisation
    role: str | None = None                       # systems: hospital|pharmacy|register|contact-point
    client_id: str | None = None
    scopes: frozenset[str] = field(default_factory=frozenset)
    patient_context: str | None = None            # SMART launch context: whom a person acts for
    break_glass: BreakGlass | None = None
    token_id: str | None = None

    @property
    def is_person(self) -> bool:
        return self.kind == PERSON

    @property
    def is_practitioner(self) -> bool:
        return self.kind == PRACTITIONER

    @property
    def is_system(self) -> bool:
        return self.kind == SYSTEM

    @property
    def is_anonymous(self) -> bool:
        return self.kind == ANONYMOUS_KIND


ANONYMOUS = Principal(ANONYMOUS_KIND, "anonymous")
