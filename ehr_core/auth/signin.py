"""People signing in: from a personal code an identity provider vouched for to the ``Principal``.

Both identity providers end here — the national eID gateway (OpenID Connect, ``oidc``) and the
development one (``dev``) — so a person gets the same token whichever way they signed in.
"""
from __future__ import annotations

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM, PersonalCodeError, compact, validate
from ehr_core.access import patients as pt
from ehr_core.auth.principal import PERSON, PRACTITIONER, Principal
from ehr_core.auth.scopes import parse_all
from ehr_core.auth.tokens import AuthError

DEFAULT_SCOPES = "openid fhirUser user/*.cruds"

__all__ = ["checked_personal_code", "checked_scopes", "person_principal", "human_name", "DEFAULT_SCOPES"]


def human_name(resource: dict) -> str | None:
    for n in resource.get("name") or []:
        if n.get("text"):
            return n["text"]
        parts = [*(n.get("given") or []), n.get("family") or ""]
        text = " ".join(p for p in parts if p)
        if text:
            return text
    return None


def checked_personal_code(raw: str) -> str:
    """The compact code, or AuthError (400) naming the rule of personal-code.md that failed."""
    try:
        return validate(raw)
    except PersonalCodeError as exc:
        raise AuthError(f"personal_code: {exc} ({exc.rule})", error="invalid_request", status=400) from None


def checked_scopes(scope: str | None, patient: str | None) -> str:
    """The scopes to put in the token: the requested ones (each a SMART scope or a plain word
    like ``openid``), or the defaults. Scopes only narrow what the access rules allow."""
    scopes = scope if scope is not None else DEFAULT_SCOPES + (" patient/*.rs" if patient else "")
    bad = [s for s in scopes.split() if "/" in s and not parse_all([s])]
    if bad:
        raise AuthError(f"not a SMART scope: {' '.join(bad)}", error="invalid_scope", status=400)
    return scopes


def _carries_code(resource: dict, code: str) -> bool:
    return any(i.get("system") == PERSONAL_CODE_SYSTEM and compact(str(i.get("value", ""))) == code
               for i in resource.get("identifier") or [])


def person_principal(engine, code: str, *, practitioner: str | None = None, scopes: str,  # noqa: ANN001
                     patient: str | None = None, practitioner_must_match: bool = True) -> Principal:
    """The principal of the person with this (validated) personal code.

    With ``practitioner`` they sign in as that clinician; the Practitioner must carry their
    personal code, so nobody signs in as someone else's Practitioner (the development provider
    alone may skip that check: it stands in for an eID that proves nothing).
    """
    with engine.connect() as c:
        if practitioner:
            found = pt.read_current(c, "Practitioner", [practitioner]).get(practitioner)
            if found is None:
                raise AuthError(f"Practitioner/{practitioner} is not known", error="invalid_request", status=400)
            if practitioner_must_match and not _carries_code(found, compact(code)):
                raise AuthError(f"Practitioner/{practitioner} is not the person who signed in",
                                error="access_denied", status=403)
            return Principal(PRACTITIONER, compact(code), name=human_name(found), personal_code=code,
                             practitioner_id=practitioner, scopes=frozenset(scopes.split()))
        own = pt.by_personal_code(c, code)
        name = human_name(pt.read_current(c, "Patient", own[:1]).get(own[0], {})) if own else None
    return Principal(PERSON, code, name=name, personal_code=code, scopes=frozenset(scopes.split()),
                     patient_context=patient)
