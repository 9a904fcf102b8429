"""People's sign-in with OpenID Connect against an in-process provider with real keys
(tests/ehr_core/auth/fake_idp.py), on SQLite and PostgreSQL: the authorization code flow with
PKCE, state and nonce, and every way an answer from the provider can be wrong."""
from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
from ehr_core.api import create_app
from ehr_core.auth.oidc import OidcConfig, OpenIdProvider, allowed_return
from ehr_core.auth.oidc_api import COOKIE
from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.engine import make_engine
from tests.ehr_core.auth.fake_idp import CLIENT_ID, CLIENT_SECRET, ISSUER, FakeIdP, SigningKey
from tests.utils.access_world import _trusted_create
from tests.utils.auth import bearer
from tests.utils.databases import ENGINES

CODE = "32000000101"          # the person in the register
CLAIM = "personal_code"
PORTAL = "https://portal.evk.example/app/"


def _settings(url: str, **extra) -> Settings:  # noqa: ANN003
    return Settings(database_url=url, demo_data=False, base_url="http://testserver", oidc_issuer=ISSUER,
                    oidc_client_id=CLIENT_ID, oidc_client_secret=CLIENT_SECRET, oidc_personal_code_claim=CLAIM,
                    oidc_return_urls=(PORTAL,), **extra)


class Site:
    def __init__(self, http: TestClient, service: Service, idp: FakeIdP):
        self.http, self.service, self.idp = http, service, idp
        self.patient = _trusted_create(service, {
            "resourceType": "Patient", "name": [{"family": "Ozola", "given": ["Ilze"]}], "birthDate": "1980-05-01",
            "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": CODE}]})
        self.practitioner = _trusted_create(service, {
            "resourceType": "Practitioner", "name": [{"family": "Ozola", "given": ["Dr"]}],
            "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": CODE}]})

    def login(self, **params: str) -> httpx.Response:
        return self.http.get("/auth/oidc/login", params=params, follow_redirects=False)

    def sign_in(self, claims: dict | None = None, *, login: dict | None = None, **authorize) -> httpx.Response:  # noqa: ANN003
        """The whole round trip: our login, the provider's sign-in, our callback."""
        start = self.login(**(login or {}))
        assert start.status_code == 302, start.text
        back = self.idp.authorize(start.headers["location"], {CLAIM: CODE} if claims is None else claims, **authorize)
        return self.http.get(back, follow_redirects=False)


@pytest.fixture(scope="module", params=ENGINES)
def site(request, databases):  # noqa: ANN001
    url = databases.url(request.param)
    settings = _settings(url)
    svc = Service.from_settings(settings, engine=make_engine(url))
    idp = FakeIdP()
    svc.oidc_provider = OpenIdProvider(OidcConfig.from_settings(settings),  # type: ignore[attr-defined]
                                       httpx.AsyncClient(transport=idp.transport()), refetch_after=0)
    with TestClient(create_app(svc)) as http:
        yield Site(http, svc, idp)
    svc.engine.dispose()
    databases.drop(url)


def _error(resp: httpx.Response, status: int, error: str, says: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error"] == error and says in body["error_description"], body
    assert resp.headers["cache-control"] == "no-store"


# --- success -------------------------------------------------------------------------------------

def test_sign_in_gives_our_own_short_lived_person_token(site):  # noqa: ANN001
    start = site.login()
    assert start.status_code == 302 and COOKIE in start.headers["set-cookie"]
    assert "httponly" in start.headers["set-cookie"].lower() and "samesite=lax" in start.headers["set-cookie"].lower()
    query = parse_qs(urlsplit(start.headers["location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == ["http://testserver/auth/oidc/callback"]
    back = site.idp.authorize(start.headers["location"], {CLAIM: CODE})
    resp = site.http.get(back, follow_redirects=False)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == site.service.settings.token_ttl
    assert "user/*.cruds" in body["scope"].split()
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["iss"] == "http://testserver" and claims["aud"] == "http://testserver/fhir"   # ours, not the IdP's
    me = site.http.get("/auth/me", headers=bearer(body["access_token"])).json()
    assert me["kind"] == "person" and me["name"] == "Ilze Ozola"
    own = site.http.get(f"/fhir/{site.patient}", headers=bearer(body["access_token"]))
    assert own.status_code == 200
    assert f'{COOKIE}=""' in resp.headers["set-cookie"] or "max-age=0" in resp.headers["set-cookie"].lower()

    # The same callback again (state and cookie captured by an attacker): refused.
    sealed = start.cookies[COOKIE]
    replay = site.http.get(back, headers={"cookie": f"{COOKIE}={sealed}"}, follow_redirects=False)
    _error(replay, 400, "invalid_request", "state used before")


def test_rs256_keys_rotate_and_the_etsi_prefix_is_understood(site):  # noqa: ANN001
    rs = next(k for k in site.idp.keys if k.alg == "RS256")
    assert site.sign_in({CLAIM: f"PNOLV-{CODE}"}, key=rs).status_code == 200
    jwks_fetches = site.idp.hits["/jwks"]
    site.idp.keys.append(SigningKey.new("RS256"))              # the issuer rotates: a kid we never saw
    assert site.sign_in(key=site.idp.keys[-1]).status_code == 200
    assert site.idp.hits["/jwks"] == jwks_fetches + 1           # refetched once, for the unknown kid
    assert site.sign_in(key=site.idp.keys[-1]).status_code == 200
    assert site.idp.hits["/jwks"] == jwks_fetches + 1           # then cached
    assert site.idp.hits["/.well-known/openid-configuration"] == 1   # discovery: once


def test_a_clinician_signs_in_as_their_own_practitioner_only(site):  # noqa: ANN001
    pid = site.practitioner.split("/")[1]
    resp = site.sign_in(login={"practitioner": pid})
    assert resp.status_code == 200, resp.text
    me = site.http.get("/auth/me", headers=bearer(resp.json()["access_token"])).json()
    assert me["kind"] == "practitioner" and me["practitioner"] == pid
    _error(site.sign_in({CLAIM: "32000000102"}, login={"practitioner": pid}), 403, "access_denied",
           "not the person who signed in")


def test_return_url_on_the_allow_list_gets_the_token_in_the_fragment(site):  # noqa: ANN001
    resp = site.sign_in(login={"return_to": PORTAL + "signed-in"})
    assert resp.status_code == 303
    target = urlsplit(resp.headers["location"])
    assert target.geturl().startswith(PORTAL + "signed-in#") and not target.query
    token = parse_qs(target.fragment)["access_token"][0]
    assert site.http.get("/auth/me", headers=bearer(token)).json()["kind"] == "person"
    for elsewhere in ("https://portal.evk.example.attacker.test/app/", "https://portal.evk.example/other",
                      "javascript:alert(1)", "//attacker.test/app/"):
        _error(site.login(return_to=elsewhere), 400, "invalid_request", "allow-list")


def test_allow_list_matching():
    allow = ("https://portal.evk.lv/", "http://localhost:5173/cb")
    assert allowed_return("https://portal.evk.lv/x?y=1", allow)
    assert allowed_return("http://localhost:5173/cb/done", allow)
    assert not allowed_return("https://portal.evk.lv.evil.test/", allow)
    assert not allowed_return("http://portal.evk.lv/", allow)
    assert not allowed_return("https://user@portal.evk.lv/", allow)
    assert not allowed_return("http://localhost:5174/cb", allow)


# --- what the provider may get wrong ---------------------------------------------------------

def _foreign_key(claims, key, headers):  # noqa: ANN001, ANN202
    # Signed by a key the issuer does not publish, under a kid it does: the signature must fail.
    return claims, SigningKey(key.kid, key.alg, SigningKey.new(key.alg).private), headers


def _set(**changes):  # noqa: ANN003, ANN202
    def mint(claims, key, headers):  # noqa: ANN001, ANN202
        return {**claims, **changes}, key, headers
    return mint


def _hs256(claims, key, headers):  # noqa: ANN001, ANN202
    return claims, SigningKey(key.kid, "HS256", CLIENT_SECRET), headers


@pytest.mark.parametrize("mint, claims, status, error, says", [
    (_foreign_key, None, 401, "invalid_token", "signature does not verify"),
    (_set(aud="another-client"), None, 401, "invalid_token", "not for this client"),
    (_set(aud=[CLIENT_ID, "another-client"]), None, 401, "invalid_token", "azp"),
    (_set(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200), None, 401, "invalid_token", "expired"),
    (_set(nonce="not-the-one-we-sent"), None, 401, "invalid_token", "nonce"),
    (_set(nonce=None), None, 401, "invalid_token", "nonce"),
    (_set(iss="https://impostor.example"), None, 401, "invalid_token", "not from"),
    (_hs256, None, 401, "invalid_token", "algorithm 'HS256'"),
    (None, {"name": "nobody"}, 401, "access_denied", "no 'personal_code' claim"),
    (None, {CLAIM: "161175-19998"}, 400, "invalid_request", "check-digit"),
    (None, {CLAIM: "12345"}, 400, "invalid_request", "(format)"),
], ids=["bad-signature", "wrong-audience", "azp-missing", "expired", "wrong-nonce", "no-nonce", "wrong-issuer",
        "hs256", "no-personal-code", "bad-check-digit", "bad-format"])
def test_id_tokens_that_must_not_sign_anyone_in(site, mint, claims, status, error, says):  # noqa: ANN001
    _error(site.sign_in(claims, mint=mint), status, error, says)


def test_callbacks_that_do_not_belong_to_a_sign_in(site):  # noqa: ANN001
    start = site.login()
    back = site.idp.authorize(start.headers["location"], {CLAIM: CODE})
    forged = back.replace("state=", "state=x")
    _error(site.http.get(forged, follow_redirects=False), 400, "invalid_request", "state does not match")
    site.http.cookies.clear()
    _error(site.http.get(back, follow_redirects=False), 400, "invalid_request", "cookie is missing")
    denied = site.http.get("/auth/oidc/callback?error=access_denied&error_description=cancelled&state=x",
                           follow_redirects=False)
    _error(denied, 401, "access_denied", "cancelled")
    state = parse_qs(urlsplit(site.login().headers["location"]).query)["state"][0]
    unknown = site.http.get(f"/auth/oidc/callback?code=never-issued&state={state}", follow_redirects=False)
    _error(unknown, 401, "invalid_grant", "unknown or used code")


def test_private_key_jwt_client_authentication(tmp_path):  # noqa: ANN001
    """The token request carries a client assertion signed with our key (no secret sent)."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = tmp_path / "client.pem"
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    config = OidcConfig.from_settings(Settings(database_url="sqlite://", base_url="http://testserver",
                                               oidc_issuer=ISSUER, oidc_client_id=CLIENT_ID,
                                               oidc_client_key_file=str(pem), oidc_client_key_id="k1"))
    assert config is not None and config.token_auth == "private_key_jwt"
    idp, seen = FakeIdP(), {}

    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/token":
            seen.update({k: v[0] for k, v in parse_qs(request.content.decode()).items()})
            seen["authorization"] = request.headers.get("authorization")
            return httpx.Response(200, json={"id_token": "x"})
        return idp.handle(request)

    import asyncio
    provider = OpenIdProvider(config, httpx.AsyncClient(transport=httpx.MockTransport(handle)))
    asyncio.run(provider.exchange("a-code", "a-verifier"))
    assert seen["authorization"] is None and "client_secret" not in seen
    claims = jwt.decode(seen["client_assertion"], key.public_key(), algorithms=["ES256"], audience=f"{ISSUER}/token")
    assert claims["iss"] == claims["sub"] == CLIENT_ID and claims["exp"] - claims["iat"] <= 60
    assert jwt.get_unverified_header(seen["client_assertion"])["kid"] == "k1"
    assert seen["code_verifier"] == "a-verifier"
    with pytest.raises(ValueError):
        OidcConfig.from_settings(Settings(database_url="sqlite://", oidc_issuer=ISSUER, oidc_client_id=CLIENT_ID))
