"""The development identity provider (only with ``EVK_DEV_AUTH=1``): a personal code (and, for
a clinician, a Practitioner id) is enough to sign in. It stands in for the national eID
gateway's OpenID Connect sign-in (``oidc``) and issues the same tokens (``signin``).
"""
from __future__ import annotations

from ehr_core.auth.principal import Principal
from ehr_core.auth.signin import checked_personal_code, checked_scopes, human_name, person_principal

__all__ = ["dev_principal", "human_name"]


def dev_principal(engine, personal_code: str, practitioner: str | None = None,  # noqa: ANN001
                  scope: str | None = None, patient: str | None = None) -> Principal:
    code = checked_personal_code(personal_code)
    scopes = checked_scopes(scope, patient)
    return person_principal(engine, code, practitioner=practitioner, scopes=scopes, patient=patient,
                            practitioner_must_match=False)
