"""People sign in with OpenID Connect (in production: the national eID gateway).

Authorization code flow with PKCE (RFC 7636, S256), ``state`` and ``nonce``
(https://openid.net/specs/openid-connect-core-1_0.html, sections 3.1.2-3.1.3):

1. ``start`` makes a ``LoginTransaction`` (state, nonce, PKCE verifier, what the person asked
   for) and the issuer's authorization URL. The transaction travels in a cookie we sign with our
   own token keys, so any worker can finish the sign-in and the verifier never goes through the
   front channel; it names an audience no access token has, so it is never a bearer token.
2. ``finish`` (the callback) checks the returned ``state`` against the cookie, spends it once
   (``auth_assertion_jti``: a replayed callback is refused), exchanges the code at the token
   endpoint (client secret or ``private_key_jwt``), verifies the id_token — signature against
   the issuer's JWKS, ``iss``, ``aud``/``azp``, ``exp``, ``nonce`` — and reads the personal code
   claim. ``signin`` turns the code into the same principal the development sign-in gives.

Discovery metadata and the JWKS are cached (``OpenIdProvider``); an id_token with an unknown
``kid`` refetches the JWKS (the issuer rotated its keys), at most once every few seconds.
Only asymmetric signatures are accepted: a shared-secret HS256 id_token is refused.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

import anyio
import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import Engine, delete, insert, select

from ehr_core.access import schema
from ehr_core.auth.keys import ALG, KeyStore
from ehr_core.auth.tokens import LEEWAY, AuthError

ID_TOKEN_ALGS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
TOKEN_AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
LOGIN_TTL = 600                       # seconds a sign-in may take at the issuer
STATE_SPENT = "oidc-state"            # the auth_assertion_jti "client" under which spent states are kept
HTTP_TIMEOUT = 10.0

__all__ = ["OidcConfig", "OpenIdProvider", "LoginTransaction", "start", "finish", "verify_id_token",
           "personal_code_claim", "allowed_return"]


def _error(description: str, error: str = "invalid_request", status: int = 400) -> AuthError:
    return AuthError(description, error=error, status=status)


@dataclass(frozen=True)
class OidcConfig:
    issuer: str
    client_id: str
    redirect_uri: str
    scopes: str
    personal_code_claim: str
    token_auth: str                       # one of TOKEN_AUTH_METHODS
    client_secret: str = ""
    client_key: object = None             # private key for private_key_jwt
    client_key_id: str = ""
    return_urls: tuple[str, ...] = ()

    @classmethod
    def from_settings(cls, settings) -> OidcConfig | None:  # noqa: ANN001
        """The configuration, or None when OpenID Connect sign-in is off (no issuer set)."""
        if not settings.oidc_issuer:
            return None
        if not settings.oidc_client_id:
            raise ValueError("EVK_OIDC_ISSUER is set but EVK_OIDC_CLIENT_ID is not")
        key = None
        if settings.oidc_client_key_file:
            key = serialization.load_pem_private_key(Path(settings.oidc_client_key_file).read_bytes(), password=None)
            if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
                raise ValueError("EVK_OIDC_CLIENT_KEY_FILE must hold an RSA or EC private key")
        method = settings.oidc_token_auth or ("private_key_jwt" if key is not None else "client_secret_basic")
        if method not in TOKEN_AUTH_METHODS:
            raise ValueError(f"EVK_OIDC_TOKEN_AUTH must be one of {', '.join(TOKEN_AUTH_METHODS)}")
        if method == "private_key_jwt" and key is None:
            raise ValueError("private_key_jwt needs EVK_OIDC_CLIENT_KEY_FILE")
        if method != "private_key_jwt" and not settings.oidc_client_secret:
            raise ValueError(f"{method} needs EVK_OIDC_CLIENT_SECRET")
        base = settings.base_url.rstrip("/")
        scopes = settings.oidc_scopes if "openid" in settings.oidc_scopes.split() else "openid " + settings.oidc_scopes
        return cls(settings.oidc_issuer.rstrip("/"), settings.oidc_client_id,
                   settings.oidc_redirect_uri or f"{base}/auth/oidc/callback", scopes.strip(),
                   settings.oidc_personal_code_claim, method, settings.oidc_client_secret, key,
                   settings.oidc_client_key_id, tuple(settings.oidc_return_urls))


class OpenIdProvider:
    """The issuer as we see it: discovery metadata and signing keys (cached), the token endpoint."""

    def __init__(self, config: OidcConfig, http: httpx.AsyncClient | None = None, *,
                 metadata_ttl: float = 24 * 3600, jwks_ttl: float = 3600, refetch_after: float = 10):
        self.config = config
        self.http = http or httpx.AsyncClient(timeout=HTTP_TIMEOUT, follow_redirects=False)
        self.metadata_ttl = metadata_ttl
        self.jwks_ttl = jwks_ttl
        self.refetch_after = refetch_after    # an unknown kid refetches, but not faster than this
        self._metadata: tuple[dict, float] | None = None
        self._jwks: tuple[dict[str, dict], float] | None = None

    async def _get_json(self, url: str, what: str) -> dict:
        try:
            resp = await self.http.get(url, headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise _error(f"the identity provider's {what} is unreachable: {exc}", "temporarily_unavailable",
                         502) from None
        if resp.status_code != 200:
            raise _error(f"the identity provider's {what} answered HTTP {resp.status_code}",
                         "temporarily_unavailable", 502)
        try:
            body = resp.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise _error(f"the identity provider's {what} is not a JSON object", "temporarily_unavailable", 502)
        return body

    async def metadata(self) -> dict:
        """``/.well-known/openid-configuration`` (OpenID Connect Discovery 1.0), checked and cached."""
        if self._metadata is not None and time.monotonic() - self._metadata[1] < self.metadata_ttl:
            return self._metadata[0]
        meta = await self._get_json(self.config.issuer + "/.well-known/openid-configuration", "discovery document")
        if meta.get("issuer", "").rstrip("/") != self.config.issuer:
            # Discovery 4.3: the issuer in the document must be the one we asked.
            raise _error(f"discovery names issuer {meta.get('issuer')!r}, not {self.config.issuer!r}",
                         "temporarily_unavailable", 502)
        missing = [k for k in ("authorization_endpoint", "token_endpoint", "jwks_uri") if not meta.get(k)]
        if missing:
            raise _error(f"discovery document lacks {', '.join(missing)}", "temporarily_unavailable", 502)
        self._metadata = (meta, time.monotonic())
        return meta

    async def signing_key(self, kid: str | None) -> dict:
        """The issuer's JWK with this kid; the JWKS is refetched once when the kid is unknown."""
        now = time.monotonic()
        if self._jwks is None or now - self._jwks[1] >= self.jwks_ttl:
            await self._fetch_jwks()
        assert self._jwks is not None
        found = self._find(kid)
        if found is None and time.monotonic() - self._jwks[1] >= self.refetch_after:
            await self._fetch_jwks()
            found = self._find(kid)
        if found is None:
            raise _error(f"the id_token is signed with a key the issuer does not publish (kid {kid!r})",
                         "invalid_token", 401)
        return found

    def _find(self, kid: str | None) -> dict | None:
        assert self._jwks is not None
        keys = self._jwks[0]
        if kid is None:
            # Without a kid the issuer must publish exactly one signing key.
            return next(iter(keys.values())) if len(keys) == 1 else None
        return keys.get(kid)

    async def _fetch_jwks(self) -> None:
        meta = await self.metadata()
        body = await self._get_json(meta["jwks_uri"], "JWKS")
        keys = {}
        for i, k in enumerate(body.get("keys") or []):
            if isinstance(k, dict) and k.get("use", "sig") == "sig":
                keys[str(k.get("kid", f"#{i}"))] = k
        self._jwks = (keys, time.monotonic())

    async def exchange(self, code: str, verifier: str) -> dict:
        """The token response for an authorization code (RFC 6749 4.1.3 with RFC 7636 4.5)."""
        meta = await self.metadata()
        cfg = self.config
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": cfg.redirect_uri,
                "code_verifier": verifier}
        auth = None
        if cfg.token_auth == "client_secret_basic":
            # RFC 6749 2.3.1: id and secret are form-encoded before Basic encoding.
            auth = httpx.BasicAuth(quote(cfg.client_id, safe=""), quote(cfg.client_secret, safe=""))
        elif cfg.token_auth == "client_secret_post":
            form.update(client_id=cfg.client_id, client_secret=cfg.client_secret)
        else:
            form.update(client_id=cfg.client_id, client_assertion=self._client_assertion(meta["token_endpoint"]),
                        client_assertion_type="urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        try:
            resp = await self.http.post(meta["token_endpoint"], data=form, auth=auth,
                                        headers={"Accept": "application/json"})
        except httpx.HTTPError as exc:
            raise _error(f"the identity provider's token endpoint is unreachable: {exc}",
                         "temporarily_unavailable", 502) from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code != 200:
            said = body.get("error_description") or body.get("error") or f"HTTP {resp.status_code}"
            raise _error(f"the identity provider refused the code: {said}", "invalid_grant", 401)
        if not isinstance(body, dict) or not isinstance(body.get("id_token"), str):
            raise _error("the identity provider's token response has no id_token", "invalid_grant", 401)
        return body

    def _client_assertion(self, token_endpoint: str) -> str:
        """private_key_jwt (OpenID Connect Core 9, RFC 7523)."""
        cfg = self.config
        now = int(time.time())
        alg = "ES256" if isinstance(cfg.client_key, ec.EllipticCurvePrivateKey) else "RS256"
        headers = {"kid": cfg.client_key_id} if cfg.client_key_id else None
        return jwt.encode({"iss": cfg.client_id, "sub": cfg.client_id, "aud": token_endpoint, "iat": now,
                           "exp": now + 60, "jti": uuid.uuid4().hex}, cfg.client_key, algorithm=alg, headers=headers)


# --- the login transaction ---------------------------------------------------------------------

@dataclass(frozen=True)
class LoginTransaction:
    state: str
    nonce: str
    verifier: str
    expires: int
    return_to: str | None = None
    scope: str | None = None              # SMART scopes the person asked for (None: the defaults)
    patient: str | None = None            # SMART patient context (a guardian or proxy acting for one)
    practitioner: str | None = None       # sign in as this clinician

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def _transaction_audience(cfg: OidcConfig) -> str:
    # Never the FHIR base: a transaction cookie must not pass as an access token.
    return cfg.redirect_uri + "#login-transaction"


def seal(txn: LoginTransaction, keys: KeyStore, cfg: OidcConfig) -> str:
    kid, key = keys.signer()
    claims = {k: v for k, v in asdict(txn).items() if v is not None}
    claims.update(aud=_transaction_audience(cfg), exp=txn.expires)
    return jwt.encode(claims, key, algorithm=ALG, headers={"kid": kid})


def unseal(cookie: str | None, keys: KeyStore, cfg: OidcConfig) -> LoginTransaction:
    if not cookie:
        raise _error("no sign-in in progress in this browser (the sign-in cookie is missing or expired)")
    try:
        kid = jwt.get_unverified_header(cookie).get("kid")
        key = keys.public_key(str(kid))
        if key is None:
            raise jwt.InvalidTokenError("unknown key")
        claims = jwt.decode(cookie, key, algorithms=[ALG], audience=_transaction_audience(cfg),
                            options={"require": ["exp", "state", "nonce", "verifier"]})
    except jwt.ExpiredSignatureError:
        raise _error("the sign-in took too long; start again") from None
    except jwt.PyJWTError:
        raise _error("the sign-in cookie is not valid; start again") from None
    fields = LoginTransaction.__dataclass_fields__
    return LoginTransaction(**{k: v for k, v in claims.items() if k in fields})


def allowed_return(url: str, allow_list: tuple[str, ...]) -> bool:
    """Same scheme and host as an allow-list entry, and a path under the entry's path (so
    ``https://portal.evk.lv/`` does not let ``https://portal.evk.lv.example.com`` through)."""
    target = urlsplit(url)
    if target.scheme not in ("https", "http") or not target.netloc or target.username or target.password:
        return False
    for entry in allow_list:
        allowed = urlsplit(entry)
        if (target.scheme, target.netloc.lower()) == (allowed.scheme, allowed.netloc.lower()) \
                and target.path.startswith(allowed.path or "/"):
            return True
    return False


async def start(provider: OpenIdProvider, keys: KeyStore, *, return_to: str | None = None,
                scope: str | None = None, patient: str | None = None,
                practitioner: str | None = None) -> tuple[str, str]:
    """(the issuer's authorization URL to redirect to, the sealed transaction for the cookie)."""
    cfg = provider.config
    if return_to and not allowed_return(return_to, cfg.return_urls):
        raise _error("return_to is not on the allow-list (EVK_OIDC_RETURN_URLS)")
    meta = await provider.metadata()
    txn = LoginTransaction(secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(48),
                           int(time.time()) + LOGIN_TTL, return_to or None, scope, patient or None,
                           practitioner or None)
    query = {"response_type": "code", "client_id": cfg.client_id, "redirect_uri": cfg.redirect_uri,
             "scope": cfg.scopes, "state": txn.state, "nonce": txn.nonce,
             "code_challenge": txn.challenge, "code_challenge_method": "S256"}
    endpoint = meta["authorization_endpoint"]
    sealed = await anyio.to_thread.run_sync(seal, txn, keys, cfg)
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(query), sealed


def spend_state(engine: Engine, state: str, expires: int) -> None:
    """A state is good for one callback; a second one with it is a replay."""
    t = schema.assertion_jti
    key = hashlib.sha256(state.encode()).hexdigest()
    with engine.begin() as c:
        c.execute(delete(t).where(t.c.expires < int(time.time())))
        if c.execute(select(t.c.jti).where(t.c.client_id == STATE_SPENT, t.c.jti == key)).first():
            raise _error("this sign-in was already completed (state used before); start again")
        c.execute(insert(t).values(client_id=STATE_SPENT, jti=key, expires=expires + 60))


def verify_id_token(id_token: str, jwk: dict, cfg: OidcConfig, nonce: str, algs: tuple[str, ...]) -> dict:
    """The id_token's claims after OpenID Connect Core 3.1.3.7 (steps 2-4, 6, 9, 11)."""
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise _error(f"the id_token is not a JWT: {exc}", "invalid_token", 401) from None
    alg = header.get("alg")
    if alg not in algs:
        raise _error(f"the id_token algorithm {alg!r} is not accepted", "invalid_token", 401)
    if jwk.get("alg") and jwk["alg"] != alg:
        raise _error(f"the id_token says {alg} but its key is for {jwk['alg']}", "invalid_token", 401)
    try:
        key = jwt.PyJWK(jwk, algorithm=alg).key
        claims = jwt.decode(id_token, key, algorithms=[alg], audience=cfg.client_id, issuer=cfg.issuer,
                            leeway=LEEWAY, options={"require": ["iss", "sub", "aud", "exp", "iat"]})
    except jwt.ExpiredSignatureError:
        raise _error("the id_token has expired", "invalid_token", 401) from None
    except jwt.InvalidAudienceError:
        raise _error(f"the id_token is not for this client (aud must include {cfg.client_id!r})",
                     "invalid_token", 401) from None
    except jwt.InvalidIssuerError:
        raise _error(f"the id_token is not from {cfg.issuer}", "invalid_token", 401) from None
    except jwt.InvalidSignatureError:
        raise _error("the id_token signature does not verify", "invalid_token", 401) from None
    except jwt.PyJWTError as exc:
        raise _error(f"the id_token is not valid: {exc}", "invalid_token", 401) from None
    aud = claims["aud"]
    if (isinstance(aud, list) and len(aud) > 1 or "azp" in claims) and claims.get("azp") != cfg.client_id:
        raise _error("the id_token's authorized party (azp) is not this client", "invalid_token", 401)
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise _error("the id_token's nonce does not match this sign-in", "invalid_token", 401)
    return claims


ETSI_PREFIX = "PNOLV-"    # ETSI EN 319 412-1 semantics identifier of a Latvian personal number


def personal_code_claim(claims: dict, name: str) -> str:
    """The raw personal code the issuer vouches for (validated by ``signin``)."""
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise _error(f"the identity provider did not tell who signed in: no {name!r} claim in the id_token",
                     "access_denied", 401)
    value = value.strip()
    return value[len(ETSI_PREFIX):] if value.upper().startswith(ETSI_PREFIX) else value


async def finish(provider: OpenIdProvider, engine: Engine, keys: KeyStore, cookie: str | None,
                 query: dict[str, str]) -> tuple[LoginTransaction, str]:
    """Check the callback and the id_token: (the transaction, the raw personal code)."""
    cfg = provider.config
    if query.get("error"):
        said = query.get("error_description") or query["error"]
        raise _error(f"the identity provider did not sign the person in: {said}", "access_denied", 401)
    txn = await anyio.to_thread.run_sync(unseal, cookie, keys, cfg)
    state, code = query.get("state") or "", query.get("code") or ""
    if not state or not hmac.compare_digest(state, txn.state):
        raise _error("state does not match the sign-in started in this browser")
    if not code:
        raise _error("the callback carries no code")
    await anyio.to_thread.run_sync(spend_state, engine, txn.state, txn.expires)
    tokens = await provider.exchange(code, txn.verifier)
    id_token = tokens["id_token"]
    try:
        kid = jwt.get_unverified_header(id_token).get("kid")
    except jwt.PyJWTError as exc:
        raise _error(f"the id_token is not a JWT: {exc}", "invalid_token", 401) from None
    meta = await provider.metadata()
    offered = meta.get("id_token_signing_alg_values_supported") or ["RS256"]
    algs = tuple(a for a in ID_TOKEN_ALGS if a in offered)
    jwk = await provider.signing_key(kid)
    claims = verify_id_token(id_token, jwk, cfg, txn.nonce, algs)
    return txn, personal_code_claim(claims, cfg.personal_code_claim)
