"""HTTP routes of identity: token endpoints, break-glass, JWKS and the SMART configuration.

- ``POST /auth/token``          SMART Backend Services (client_credentials + private_key_jwt)
- ``GET /auth/oidc/login``, ``GET /auth/oidc/callback``  people's sign-in with OpenID Connect
                                (only with EVK_OIDC_ISSUER; ``oidc_api``)
- ``POST /auth/dev/token``      development sign-in (only with EVK_DEV_AUTH=1): ``personal_code``
                                [, ``practitioner``, ``scope``, ``patient``]
- ``POST /auth/break-glass``    a clinician's emergency token: ``patient``, ``reason``, ``confirm``
- ``GET /auth/me``              who the token is and whose records they may act for
- ``GET /.well-known/jwks.json``            the keys that verify our tokens
- ``GET /.well-known/smart-configuration``  (open, like /fhir/metadata)

``principal_from`` is the bearer check every other route uses (401 with WWW-Authenticate).
"""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ehr_core.auth.principal import Principal
from ehr_core.auth.tokens import AuthError

__all__ = ["router", "principal_from", "principal_from_header", "www_authenticate", "oauth_error", "token_response"]


def www_authenticate(err: AuthError | None = None) -> str:
    value = 'Bearer realm="evk"'
    if err is not None and err.error:
        value += f', error="{err.error}", error_description="{err.description.replace(chr(34), chr(39))}"'
    return value


def principal_from(service, request: Request) -> Principal:  # noqa: ANN001
    """The verified principal of a request with ``Authorization: Bearer``, or AuthError (401)."""
    return principal_from_header(service, request.headers.get("authorization", ""))


def principal_from_header(service, header: str) -> Principal:  # noqa: ANN001
    """The verified principal of an ``Authorization`` header value, or AuthError (401)."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("a bearer token is required", error="")
    return service.tokens.verify(token.strip())


def oauth_error(err: AuthError) -> JSONResponse:
    headers = {"WWW-Authenticate": www_authenticate(err)} if err.status == 401 else {}
    return JSONResponse({"error": err.error or "invalid_request", "error_description": err.description},
                        status_code=err.status, headers={**headers, "Cache-Control": "no-store"})


def token_response(issued) -> JSONResponse:  # noqa: ANN001
    return JSONResponse(issued.response(), headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: str(v) for k, v in form.items()}


def router(service) -> APIRouter:  # noqa: ANN001
    r = APIRouter()
    settings = service.settings
    token_url = settings.base_url.rstrip("/") + "/auth/token"

    @r.post("/auth/token")
    async def token(request: Request) -> JSONResponse:
        from ehr_core.auth.clients import client_credentials
        form = await _form(request)
        try:
            principal = await run_in_threadpool(client_credentials, service.engine, form, token_url)
            issued = await run_in_threadpool(service.tokens.issue, principal)
        except AuthError as err:
            return oauth_error(err)
        return token_response(issued)

    if settings.dev_auth:
        @r.post("/auth/dev/token")
        async def dev_token(request: Request) -> JSONResponse:
            from ehr_core.auth.dev import dev_principal
            form = await _form(request)
            try:
                principal = await run_in_threadpool(dev_principal, service.engine, form.get("personal_code", ""),
                                                    form.get("practitioner") or None, form.get("scope"),
                                                    form.get("patient") or None)
                issued = await run_in_threadpool(service.tokens.issue, principal)
            except AuthError as err:
                return oauth_error(err)
            return token_response(issued)

    @r.post("/auth/break-glass")
    async def break_glass(request: Request) -> JSONResponse:
        from ehr_core.auth.breakglass import break_glass as issue
        try:
            principal = principal_from(service, request)
            form = await _form(request)
            issued = await run_in_threadpool(issue, service, principal, form)
        except AuthError as err:
            return oauth_error(err)
        return token_response(issued)

    @r.get("/auth/me")
    async def me(request: Request) -> JSONResponse:
        """Who the token is, and whose records they may act for now (a proxy or guardian
        chooses one and may ask for a token with that ``patient`` context)."""
        try:
            principal = principal_from(service, request)
        except AuthError as err:
            return oauth_error(err)
        return JSONResponse(await run_in_threadpool(_me, service, principal))

    from ehr_core.auth.oidc_api import router as oidc_router
    r.include_router(oidc_router(service))

    @r.get("/.well-known/jwks.json")
    async def jwks() -> JSONResponse:
        return JSONResponse(await run_in_threadpool(service.keys.jwks))

    @r.get("/.well-known/smart-configuration")
    async def smart_configuration() -> JSONResponse:
        base = settings.base_url.rstrip("/")
        return JSONResponse({
            "issuer": base,
            "jwks_uri": f"{base}/.well-known/jwks.json",
            "token_endpoint": token_url,
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384", "RS256", "ES256"],
            "grant_types_supported": ["client_credentials"],
            "scopes_supported": ["openid", "fhirUser", "user/*.cruds", "patient/*.rs", "system/*.cruds"],
            "response_types_supported": ["token"],
            "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2",
                             "permission-user", "permission-patient", "context-standalone-patient"],
            "code_challenge_methods_supported": ["S256"],
        })

    return r


def _me(service, p: Principal) -> dict:  # noqa: ANN001
    from ehr_core.access.entitlements import resolve
    with service.repo.session() as s:
        ents = resolve(s.conn, p, treating_days=service.settings.treating_days)
    acting = [{"patient": pid, "relation": g.relation, "rule": g.rule, "actions": sorted(g.actions)}
              for g in ents.grants if isinstance(g.patients, tuple) for pid in g.patients]
    return {"kind": p.kind, "name": p.name, "practitioner": p.practitioner_id, "organization": p.organization_id,
            "scope": " ".join(sorted(p.scopes)), "patient_context": p.patient_context, "act_for": acting,
            "break_glass": p.break_glass.patient_id if p.break_glass else None}
