"""Access tokens: short-lived JWTs signed by ``KeyStore``; the bearer check at the HTTP edge.

Claims: the registered ones (iss, aud, sub, iat, exp, jti) plus ``kind`` (person |
practitioner | system), ``scope`` and, as they apply, ``pc`` (personal code), ``name``,
``practitioner``, ``org``, ``role``, ``client_id``, ``patient`` (SMART launch context) and ``btg``
(a break-glass grant: patient, reason, review id).
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from ehr_core.auth.keys import ALG, KeyStore
from ehr_core.auth.principal import PERSON, PRACTITIONER, SYSTEM, BreakGlass, Principal

LEEWAY = 30   # seconds of clock skew tolerated
VERIFIED_CACHE = 4096   # tokens remembered as verified (bounded: cleared when full)

__all__ = ["TokenService", "AuthError", "IssuedToken"]


class AuthError(Exception):
    """A missing, malformed, expired or otherwise unusable credential (HTTP 401 / OAuth error)."""

    def __init__(self, description: str, *, error: str = "invalid_token", status: int = 401):
        super().__init__(description)
        self.description = description
        self.error = error
        self.status = status


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str
    claims: dict

    def response(self) -> dict:
        return {"access_token": self.access_token, "token_type": "Bearer",
                "expires_in": self.expires_in, "scope": self.scope}


class TokenService:
    def __init__(self, keys: KeyStore, *, issuer: str, audience: str, ttl: int = 600):
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.ttl = ttl
        self._verified: dict[str, tuple[Principal, float, str]] = {}

    def issue(self, principal: Principal, *, ttl: int | None = None) -> IssuedToken:
        lifetime = ttl or self.ttl
        now = int(time.time())
        claims: dict = {"iss": self.issuer, "aud": self.audience, "sub": principal.subject,
                        "iat": now, "exp": now + lifetime, "jti": uuid.uuid4().hex,
                        "kind": principal.kind, "scope": " ".join(sorted(principal.scopes))}
        optional = {"pc": principal.personal_code, "name": principal.name,
                    "practitioner": principal.practitioner_id, "org": principal.organization_id,
                    "role": principal.role, "client_id": principal.client_id,
                    "patient": principal.patient_context}
        claims.update({k: v for k, v in optional.items() if v is not None})
        if principal.break_glass is not None:
            bg = principal.break_glass
            claims["btg"] = {"patient": bg.patient_id, "reason": bg.reason, "review": bg.review_id}
            claims["exp"] = min(claims["exp"], bg.expires)
            lifetime = claims["exp"] - now
        kid, key = self.keys.signer()
        token = jwt.encode(claims, key, algorithm=ALG, headers={"kid": kid})
        return IssuedToken(token, lifetime, claims["scope"], claims)

    def verify(self, token: str) -> Principal:
        """The principal of a valid token. A token already verified is answered from memory
        (an ES256 check costs more than the rest of a read): expiry and the signing key's
        retirement are still checked on every call."""
        known = self._verified.get(token)
        if known is not None:
            principal, exp, kid = known
            if time.time() <= exp + LEEWAY and self.keys.public_key(kid) is not None:
                return principal
            self._verified.pop(token, None)
        principal, exp, kid = self._verify(token)
        if len(self._verified) >= VERIFIED_CACHE:
            self._verified.clear()
        self._verified[token] = (principal, exp, kid)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float, str]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(f"malformed token: {exc}") from None
        if header.get("alg") != ALG:
            raise AuthError(f"token algorithm {header.get('alg')!r} is not accepted")
        key = self.keys.public_key(str(header.get("kid")))
        if key is None:
            raise AuthError("token signed with an unknown or retired key")
        try:
            claims = jwt.decode(token, key, algorithms=[ALG], audience=self.audience, issuer=self.issuer,
                                leeway=LEEWAY, options={"require": ["exp", "iat", "sub", "jti"]})
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        return principal_from_claims(claims), float(claims["exp"]), str(header.get("kid"))


def principal_from_claims(claims: dict) -> Principal:
    kind = claims.get("kind")
    if kind not in (PERSON, PRACTITIONER, SYSTEM):
        raise AuthError(f"token kind {kind!r} is not known")
    btg = None
    if isinstance(claims.get("btg"), dict):
        b = claims["btg"]
        btg = BreakGlass(str(b["patient"]), str(b.get("reason", "")), int(claims["exp"]), str(b.get("review", "")))
    return Principal(
        kind=kind, subject=str(claims["sub"]), name=claims.get("name"), personal_code=claims.get("pc"),
        practitioner_id=claims.get("practitioner"), organization_id=claims.get("org"), role=claims.get("role"),
        client_id=claims.get("client_id"), scopes=frozenset(str(claims.get("scope", "")).split()),
        patient_context=claims.get("patient"), break_glass=btg, token_id=claims.get("jti"),
    )
