"""An in-process OpenID provider (the national eID gateway's stand-in) behind httpx.MockTransport.

Real keys (ES256 and RS256) sign real id_tokens. The browser's visit to the authorization
endpoint is ``FakeIdP.authorize``: it reads the request our login route redirected to, "signs
the person in" and returns the callback URL with a fresh code. The token endpoint checks the
client's secret, the redirect URI and the PKCE verifier (S256) as a real provider does.
A ``mint`` hook lets a test spoil the id_token (audience, expiry, nonce, key, claims).
"""
from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISSUER = "https://eid.example.lv"
CLIENT_ID = "evk"
CLIENT_SECRET = "s3cret-of-the-evk-client-32-bytes-long"


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: object

    @classmethod
    def new(cls, alg: str) -> SigningKey:
        key = ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else \
            rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return cls(secrets.token_hex(8), alg, key)

    def jwk(self) -> dict:
        algo = ECAlgorithm if self.alg.startswith("ES") else RSAAlgorithm
        out = json.loads(algo.to_jwk(self.private.public_key()))
        out.update(kid=self.kid, alg=self.alg, use="sig")
        return out


@dataclass
class FakeIdP:
    keys: list[SigningKey] = field(default_factory=lambda: [SigningKey.new("ES256"), SigningKey.new("RS256")])
    codes: dict[str, dict] = field(default_factory=dict)
    hits: Counter = field(default_factory=Counter)

    # --- what the provider publishes ---------------------------------------------------------
    def discovery(self) -> dict:
        return {"issuer": ISSUER, "authorization_endpoint": f"{ISSUER}/authorize", "token_endpoint": f"{ISSUER}/token",
                "jwks_uri": f"{ISSUER}/jwks", "response_types_supported": ["code"],
                "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["ES256", "RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"]}

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.hits[path] += 1
        if request.method == "GET" and path == "/.well-known/openid-configuration":
            return httpx.Response(200, json=self.discovery())
        if request.method == "GET" and path == "/jwks":
            return httpx.Response(200, json={"keys": [k.jwk() for k in self.keys]})
        if request.method == "POST" and path == "/token":
            return self.token(request)
        return httpx.Response(404)

    # --- the person at the authorization endpoint --------------------------------------------
    def authorize(self, location: str, claims: dict, *, key: SigningKey | None = None, mint=None) -> str:  # noqa: ANN001
        """The callback path the provider sends the browser back to, after sign-in."""
        url = urlsplit(location)
        assert f"{url.scheme}://{url.netloc}{url.path}" == f"{ISSUER}/authorize"
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        assert q["response_type"] == "code" and q["client_id"] == CLIENT_ID and "openid" in q["scope"].split()
        assert q["code_challenge_method"] == "S256" and q["state"] and q["nonce"]
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"claims": claims, "nonce": q["nonce"], "challenge": q["code_challenge"],
                            "redirect_uri": q["redirect_uri"], "key": key or self.keys[0], "mint": mint}
        back = urlsplit(q["redirect_uri"])
        return f"{back.path}?{urlencode({'code': code, 'state': q['state']})}"

    def token(self, request: httpx.Request) -> httpx.Response:
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("authorization") != expected:
            return httpx.Response(401, json={"error": "invalid_client"})
        grant = self.codes.pop(form.get("code", ""), None)        # a code is good once
        if grant is None or form.get("grant_type") != "authorization_code" \
                or form.get("redirect_uri") != grant["redirect_uri"]:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "unknown or used code"})
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return httpx.Response(400, json={"error": "invalid_grant", "error_description": "PKCE verifier mismatch"})
        now = int(time.time())
        claims = {"iss": ISSUER, "sub": secrets.token_hex(8), "aud": CLIENT_ID, "iat": now, "exp": now + 300,
                  "nonce": grant["nonce"], **grant["claims"]}
        key: SigningKey = grant["key"]
        headers = {"kid": key.kid}
        if grant["mint"] is not None:
            claims, key, headers = grant["mint"](claims, key, headers)
        id_token = jwt.encode({k: v for k, v in claims.items() if v is not None}, key.private, algorithm=key.alg,
                              headers=headers)
        return httpx.Response(200, json={"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                         "expires_in": 300, "id_token": id_token})
