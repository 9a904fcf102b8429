"""The HTTP application: ``/fhir`` through the plain ASGI edge (``fhir_edge.py``), and the
FastAPI routes of identity (``/auth``, ``/.well-known``), imaging (``/dicomweb``) and health.
"""
from __future__ import annotations

import sys

from fastapi import FastAPI

from ehr_core.fhir_edge import FhirEdge
from ehr_core.service import Service


def create_app(service: Service | None = None) -> FastAPI:
    service = service or Service.from_settings()
    # Reads run on the event loop and give the GIL up at every database call; at the default
    # 5 ms switch interval a busy audit-writer thread makes each of those calls wait up to 5 ms
    # to get it back (measured: the read p99 went from ~10 to ~110 ms with audit on).
    sys.setswitchinterval(0.0005)
    app = FastAPI(title="EVK", version="0.1.0", docs_url="/docs", openapi_url="/openapi.json")
    app.state.service = service
    # /fhir is served by a plain ASGI edge in front of the framework (fhir_edge.py says why).
    app.add_middleware(FhirEdge, service=service)

    from ehr_core.auth.api import router as auth_router
    app.include_router(auth_router(service))

    from imaging.api import router as imaging_router
    app.include_router(imaging_router(service))

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    return app
