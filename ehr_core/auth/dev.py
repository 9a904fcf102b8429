"""The development identity provider (only with ``EVK_DEV_AUTH=1``): a personal code (and, for
a clinician, a Practitioner id) is enough to sign in. It stands in for the national eID
gateway's OpenID Connect sign-in and issues the same tokens.
"""
from __future__ import annotations

from adapters.national.personal_code import PersonalCodeError, compact, validate
from ehr_core.access import patients as pt
from ehr_core.auth.principal import PERSON, PRACTITIONER, Principal
from ehr_core.auth.scopes import parse_all
from ehr_core.auth.tokens import AuthError

DEFAULT_SCOPES = "openid fhirUser user/*.cruds"

__all__ = ["dev_principal", "human_name"]


def human_name(resource: dict) -> str | None:
    for n in resource.get("name") or []:
        if n.get("text"):
            return n["text"]
        parts = [*(n.get("given") or []), n.get("family") or ""]
        text = " ".join(p for p in parts if p)
        if text:
            return text
    return None


def dev_principal(engine, personal_code: str, practitioner: str | None = None,  # noqa: ANN001
                  scope: str | None = None, patient: str | None = None) -> Principal:
    try:
        code = validate(personal_code)
    except PersonalCodeError as exc:
        raise AuthError(f"personal_code: {exc} ({exc.rule})", error="invalid_request", status=400) from None
    scopes = scope if scope is not None else DEFAULT_SCOPES + (" patient/*.rs" if patient else "")
    bad = [s for s in scopes.split() if "/" in s and not parse_all([s])]
    if bad:
        raise AuthError(f"not a SMART scope: {' '.join(bad)}", error="invalid_scope", status=400)
    with engine.connect() as c:
        if practitioner:
            found = pt.read_current(c, "Practitioner", [practitioner]).get(practitioner)
            if found is None:
                raise AuthError(f"Practitioner/{practitioner} is not known", error="invalid_request", status=400)
            return Principal(PRACTITIONER, compact(code), name=human_name(found), personal_code=code,
                             practitioner_id=practitioner, scopes=frozenset(scopes.split()))
        own = pt.by_personal_code(c, code)
        name = human_name(pt.read_current(c, "Patient", own[:1]).get(own[0], {})) if own else None
    return Principal(PERSON, code, name=name, personal_code=code, scopes=frozenset(scopes.split()),
                     patient_context=patient)
