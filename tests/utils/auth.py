"""Real tokens for tests: dev sign-in and SMART Backend Services clients with their own keys."""
from __future__ import annotations

import json
import time
import uuid

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from ehr_core.auth.clients import add_client


def client_keys() -> tuple[object, dict]:
    """(private key, JWKS with its public half) for a backend client."""
    key = ec.generate_private_key(ec.SECP384R1())
    jwk = json.loads(ECAlgorithm.to_jwk(key.public_key()))
    jwk.update({"kid": uuid.uuid4().hex, "alg": "ES384", "use": "sig"})
    return key, {"keys": [jwk]}


def assertion(client_id: str, key: object, kid: str, token_url: str, *, lifetime: int = 240) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": token_url, "exp": now + lifetime, "jti": uuid.uuid4().hex}
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": kid})


class Client:
    """A registered backend client that can fetch tokens through POST /auth/token."""

    def __init__(self, service, organization_code: str, role: str = "hospital", name: str | None = None):  # noqa: ANN001
        self.key, self.jwks = client_keys()
        self.kid = self.jwks["keys"][0]["kid"]
        self.id = add_client(service, organization_code, self.jwks, role, organization_name=name)
        self.token_url = service.settings.base_url.rstrip("/") + "/auth/token"

    def form(self, scope: str = "") -> dict:
        return {"grant_type": "client_credentials", "scope": scope,
                "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                "client_assertion": assertion(self.id, self.key, self.kid, self.token_url)}

    def token(self, http, scope: str = "") -> str:  # noqa: ANN001
        resp = http.post("/auth/token", data=self.form(scope))
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]


def dev_token(http, personal_code: str, **extra: str) -> str:  # noqa: ANN001
    resp = http.post("/auth/dev/token", data={"personal_code": personal_code, **extra})
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}
