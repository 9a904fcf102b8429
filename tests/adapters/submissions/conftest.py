"""A server with hospital systems registered through the real client flow (SMART Backend
Services tokens): ``strict`` (the default tier), ``claimed`` (another organisation, the lenient
tier, for Synthea data as it is), ``other`` (a third organisation)."""
from __future__ import annotations

from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient

from adapters.national.submissions.tier import CLAIMED, set_tier
from ehr_core.api import create_app
from ehr_core.rest.messages import FhirRequest
from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.engine import make_engine
from tests.utils.auth import Client, bearer

FHIR = {"content-type": "application/fhir+json"}


@dataclass
class Site:
    http: TestClient
    service: Service
    clients: dict[str, Client]
    tokens: dict[str, str]

    def post(self, who: str, url: str, body: dict):  # noqa: ANN201
        return self.http.post(f"/fhir/{url}", json=body, headers={**FHIR, **bearer(self.tokens[who])})

    def get(self, who: str, url: str):  # noqa: ANN201
        return self.http.get(f"/fhir/{url}", headers=bearer(self.tokens[who]))

    def stored(self) -> dict[str, int]:
        """Resources of each type in the store (trusted count), AuditEvents and Organizations aside."""
        counts = {}
        for rt in ("Patient", "Practitioner", "Encounter", "Condition", "Observation", "Immunization",
                   "Procedure", "MedicationRequest", "DiagnosticReport", "Claim", "ExplanationOfBenefit"):
            resp = self.service.handler.handle(FhirRequest("GET", rt, [("_summary", "count")]))
            counts[rt] = resp.body["total"]
        return counts

    def versions(self) -> int:
        """Resource versions written, the audit trail's aside (a retry is audited too)."""
        from sqlalchemy import func, select

        from ehr_core.storage.schema import resource_version as v
        with self.service.engine.connect() as c:
            return c.execute(select(func.count()).select_from(v).where(v.c.resource_type != "AuditEvent")).scalar_one()


@pytest.fixture
def site(db_url):  # noqa: ANN001
    settings = Settings(database_url=db_url, demo_data=False, base_url="http://testserver", dev_auth=True,
                        audit_sync=True)
    svc = Service.from_settings(settings, engine=make_engine(db_url))
    with TestClient(create_app(svc)) as http:
        clients = {"strict": Client(svc, "40003000001", "hospital", "Riga East Hospital"),
                   "claimed": Client(svc, "40003000002", "hospital", "Synthea Test Hospital"),
                   "other": Client(svc, "40003000003", "hospital", "Daugavpils Hospital")}
        set_tier(svc.engine, clients["claimed"].id, CLAIMED)
        yield Site(http, svc, clients, {who: c.token(http) for who, c in clients.items()})
    svc.engine.dispose()
