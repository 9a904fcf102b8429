"""SMART Backend Services clients (https://hl7.org/fhir/smart-app-launch/backend-services.html).

``add_client`` registers a client for an organisation (creating the Organization if absent)
with its public keys (JWKS) and a role that bounds its scopes. ``client_credentials`` checks a
``private_key_jwt`` client assertion (RFC 7523): signed by one of the client's keys, ``iss`` =
``sub`` = client id, ``aud`` = our token endpoint, short-lived, ``jti`` never seen before.
"""
from __future__ import annotations

import json
import time
import uuid

import jwt
from sqlalchemy import Engine, delete, insert, select

from ehr_core.access import schema
from ehr_core.access.client import ROLES
from ehr_core.auth.principal import SYSTEM, Principal
from ehr_core.auth.scopes import intersect
from ehr_core.auth.tokens import AuthError

ORGANIZATION_CODE_SYSTEM = "https://evk.lv/fhir/sid/institution-code"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_ALGS = ["RS384", "ES384", "RS256", "ES256"]
MAX_ASSERTION_LIFETIME = 300
ROLE_SCOPES = {
    "hospital": "system/*.cruds",
    "pharmacy": "system/MedicationRequest.rs system/MedicationDispense.cruds system/Patient.rs "
                "system/Medication.rs system/Organization.rs system/Practitioner.rs",
    "register": "system/Patient.cruds system/RelatedPerson.cruds system/Organization.cruds",
    "contact-point": "system/*.rs",
}

__all__ = ["add_client", "ensure_organization", "client_credentials", "ORGANIZATION_CODE_SYSTEM", "ROLE_SCOPES"]


def ensure_organization(handler, code: str, name: str | None = None) -> str:  # noqa: ANN001
    """The id of the Organization with this institution register code, created if absent."""
    from ehr_core.rest.messages import FhirRequest
    body = {"resourceType": "Organization", "active": True,
            "identifier": [{"system": ORGANIZATION_CODE_SYSTEM, "value": code}], "name": name or f"Institution {code}"}
    req = FhirRequest("POST", "Organization", [], {"if-none-exist": f"identifier={ORGANIZATION_CODE_SYSTEM}|{code}",
                                                   "prefer": "return=representation"}, body)
    resp = handler.handle(req)    # trusted internal call (principal None)
    if resp.status not in (200, 201) or not resp.body:
        raise ValueError(f"could not create Organization {code}: {resp.body}")
    return resp.body["id"]


def add_client(service, organization_code: str, jwks: dict, role: str = "hospital",  # noqa: ANN001
               *, organization_name: str | None = None, scopes: str | None = None,
               conformance: str = "strict") -> str:
    """``conformance``: the national rules its submissions meet (adapters/national/submissions/tier.py)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not keys:
        raise ValueError("the JWKS has no keys")
    for k in keys:
        jwt.PyJWK(k)   # raises on a key we could not use
    org_id = ensure_organization(service.handler, organization_code, organization_name)
    client_id = uuid.uuid4().hex
    with service.engine.begin() as c:
        c.execute(insert(schema.client).values(
            client_id=client_id, organization_id=org_id, organization_code=organization_code, role=role,
            jwks=json.dumps(jwks), scopes=scopes or ROLE_SCOPES[role], created=int(time.time() * 1e6), active=True,
            conformance=conformance))
    return client_id


def client_credentials(engine: Engine, form: dict[str, str], token_url: str) -> Principal:
    """Check a client_credentials request with a private_key_jwt assertion; the principal to issue for."""
    if form.get("grant_type") != "client_credentials":
        raise AuthError("grant_type must be client_credentials", error="unsupported_grant_type", status=400)
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise AuthError(f"client_assertion_type must be {ASSERTION_TYPE}", error="invalid_request", status=400)
    assertion = form.get("client_assertion") or ""
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
        header = jwt.get_unverified_header(assertion)
    except jwt.PyJWTError as exc:
        raise AuthError(f"client_assertion is not a JWT: {exc}", error="invalid_client") from None
    client_id = unverified.get("iss")
    if not client_id or unverified.get("sub") != client_id:
        raise AuthError("client_assertion needs iss = sub = the client id", error="invalid_client")
    with engine.connect() as c:
        row = c.execute(select(schema.client).where(schema.client.c.client_id == client_id)).first()
    if row is None or not row.active:
        raise AuthError("unknown or disabled client", error="invalid_client")
    key = _key_for(json.loads(row.jwks), header)
    try:
        claims = jwt.decode(assertion, key, algorithms=ASSERTION_ALGS, audience=token_url,
                            options={"require": ["exp", "jti", "iss", "sub", "aud"]}, leeway=30)
    except jwt.PyJWTError as exc:
        raise AuthError(f"client_assertion rejected: {exc}", error="invalid_client") from None
    now = int(time.time())
    if claims["exp"] > now + MAX_ASSERTION_LIFETIME:
        raise AuthError("client_assertion lives longer than 5 minutes", error="invalid_client")
    _remember_jti(engine, client_id, str(claims["jti"]), int(claims["exp"]))
    granted = intersect(form.get("scope", ""), row.scopes)
    if form.get("scope", "").strip() and not granted:
        raise AuthError("none of the requested scopes is registered for this client", error="invalid_scope", status=400)
    return Principal(SYSTEM, client_id, name=f"system {row.organization_code}", organization_id=row.organization_id,
                     role=row.role, client_id=client_id, scopes=frozenset(granted.split()))


def _key_for(jwks: dict, header: dict):  # noqa: ANN202
    keys = jwks.get("keys") or []
    kid = header.get("kid")
    for k in keys:
        if kid is None or k.get("kid") == kid:
            return jwt.PyJWK(k, algorithm=header.get("alg")).key
    raise AuthError(f"no registered key with kid {kid!r}", error="invalid_client")


def _remember_jti(engine: Engine, client_id: str, jti: str, exp: int) -> None:
    t = schema.assertion_jti
    with engine.begin() as c:
        c.execute(delete(t).where(t.c.expires < int(time.time())))
        if c.execute(select(t.c.jti).where(t.c.client_id == client_id, t.c.jti == jti)).first():
            raise AuthError("client_assertion replayed (jti seen before)", error="invalid_client")
        c.execute(insert(t).values(client_id=client_id, jti=jti, expires=exp + 60))
