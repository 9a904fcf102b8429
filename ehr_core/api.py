"""The HTTP edge: FastAPI routes that unpack a request, make one call into the core, serialise.

Every error leaves as an OperationOutcome. Content negotiation is JSON only (FHIR R4 JSON);
the core never sees HTTP objects.
"""
from __future__ import annotations

from urllib.parse import parse_qsl

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import Response

from ehr_core import errors
from ehr_core.rest.jsonbody import parse_json
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.service import Service

FHIR_JSON = "application/fhir+json"
JSON_TYPES = ("application/fhir+json", "application/json", "application/json-patch+json", "text/json")
FORM = "application/x-www-form-urlencoded"


def _render(resp: FhirResponse, *, head: bool = False) -> Response:
    content = b"" if resp.body is None or head else orjson.dumps(resp.body)
    headers = dict(resp.headers)
    return Response(content=content, status_code=resp.status, headers=headers,
                    media_type=f"{FHIR_JSON}; charset=utf-8" if resp.body is not None else None)


def _error(exc: errors.FhirError) -> Response:
    return _render(FhirResponse(exc.status, exc.outcome, dict(exc.headers)))


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise errors.FhirError(413, [errors.Issue("error", "too-long", f"The body is over {limit} bytes")])
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > limit:
            raise errors.FhirError(413, [errors.Issue("error", "too-long", f"The body is over {limit} bytes")])
    return bytes(body)


def _parse_body(request: Request, raw: bytes, path: str) -> object:
    if not raw:
        return None
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == FORM and path.rstrip("/").endswith("_search"):
        return parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
    if ctype not in JSON_TYPES:
        raise errors.FhirError(415, [errors.Issue("error", "not-supported",
                                                  f"Content-Type {ctype or '(none)'} is not supported; "
                                                  f"send {FHIR_JSON}")])
    return parse_json(raw)


def _principal(service: Service, request: Request, path: str):  # noqa: ANN202
    """The verified caller. Only the CapabilityStatement is open to callers without a token;
    everything else answers 401 with WWW-Authenticate (the core never sees an HTTP request
    without a principal: None there means a trusted internal caller)."""
    from ehr_core.auth.api import principal_from, www_authenticate
    from ehr_core.auth.principal import ANONYMOUS
    from ehr_core.auth.tokens import AuthError
    try:
        return principal_from(service, request)
    except AuthError as err:
        if path.strip("/") == "metadata" and request.method in ("GET", "HEAD") and not err.error:
            return ANONYMOUS
        raise errors.FhirError(401, [errors.Issue("error", "login", f"Unauthorized: {err.description}")],
                               {"WWW-Authenticate": www_authenticate(err)}) from None


def create_app(service: Service | None = None) -> FastAPI:
    service = service or Service.from_settings()
    app = FastAPI(title="EVK", version="0.1.0", docs_url="/docs", openapi_url="/openapi.json")
    app.state.service = service

    @app.api_route("/fhir/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    async def fhir(request: Request, path: str) -> Response:
        try:
            principal = _principal(service, request, path)
            raw = await _read_body(request, service.settings.max_body_bytes)
            body = _parse_body(request, raw, path)
        except errors.FhirError as exc:
            return _error(exc)
        req = FhirRequest(
            method=request.method, path=path.strip("/"),
            query=parse_qsl(request.url.query, keep_blank_values=True),
            headers={k.lower(): v for k, v in request.headers.items()}, body=body, principal=principal,
        )
        from starlette.concurrency import run_in_threadpool
        resp = await run_in_threadpool(service.handler.handle, req)
        return _render(resp, head=request.method == "HEAD")

    from ehr_core.auth.api import router as auth_router
    app.include_router(auth_router(service))

    from imaging.api import router as imaging_router
    app.include_router(imaging_router(service))

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    return app
