"""HTTP routes of the OpenID Connect sign-in (``oidc`` does the protocol); present only when
EVK_OIDC_ISSUER is set.

- ``GET /auth/oidc/login``     [``return_to``, ``scope``, ``patient``, ``practitioner``] → 302 to the
                               issuer's authorization endpoint, with the sign-in cookie
- ``GET /auth/oidc/callback``  the issuer sends the browser back here → our access token, as
                               ``POST /auth/dev/token`` gives it: a JSON body, or with an allowed
                               ``return_to`` a 303 to it with the token in the URL fragment
                               (a fragment never reaches a server log)

Errors are the OAuth error JSON of the other ``/auth`` endpoints (400 / 401 / 403 / 502).
"""
from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ehr_core.auth.oidc import LOGIN_TTL, OidcConfig, OpenIdProvider, finish, start
from ehr_core.auth.signin import checked_personal_code, checked_scopes, person_principal
from ehr_core.auth.tokens import AuthError

COOKIE = "evk_oidc"
COOKIE_PATH = "/auth/oidc"

__all__ = ["router"]


def router(service) -> APIRouter:  # noqa: ANN001
    """Tests hand in a provider talking to a fake issuer as ``service.oidc_provider``."""
    from ehr_core.auth.api import oauth_error, token_response
    r = APIRouter()
    config = OidcConfig.from_settings(service.settings)
    if config is None:
        return r
    provider = getattr(service, "oidc_provider", None) or OpenIdProvider(config)
    secure = config.redirect_uri.startswith("https://")

    def refused(err: AuthError) -> JSONResponse:
        resp = oauth_error(err)
        resp.delete_cookie(COOKIE, path=COOKIE_PATH)
        return resp

    @r.get("/auth/oidc/login")
    async def login(request: Request) -> Response:
        q = request.query_params
        try:
            checked_scopes(q.get("scope"), q.get("patient"))          # refuse before the round trip
            url, sealed = await start(provider, service.keys, return_to=q.get("return_to"), scope=q.get("scope"),
                                      patient=q.get("patient"), practitioner=q.get("practitioner"))
        except AuthError as err:
            return refused(err)
        resp = RedirectResponse(url, status_code=302, headers={"Cache-Control": "no-store"})
        # SameSite=Lax: the issuer's redirect back is a top-level GET, which Lax lets through.
        resp.set_cookie(COOKIE, sealed, max_age=LOGIN_TTL, path=COOKIE_PATH, httponly=True, secure=secure,
                        samesite="lax")
        return resp

    @r.get("/auth/oidc/callback")
    async def callback(request: Request) -> Response:
        try:
            txn, raw_code = await finish(provider, service.engine, service.keys, request.cookies.get(COOKIE),
                                         dict(request.query_params))
            principal = await run_in_threadpool(
                person_principal, service.engine, checked_personal_code(raw_code), practitioner=txn.practitioner,
                scopes=checked_scopes(txn.scope, txn.patient), patient=txn.patient)
            issued = await run_in_threadpool(service.tokens.issue, principal)
        except AuthError as err:
            return refused(err)
        if txn.return_to:
            resp: Response = RedirectResponse(txn.return_to.split("#")[0] + "#" + urlencode(issued.response()), status_code=303,
                                              headers={"Cache-Control": "no-store"})
        else:
            resp = token_response(issued)
        resp.delete_cookie(COOKIE, path=COOKIE_PATH)
        return resp

    return r
