"""Small helpers for calling the FHIR core in tests."""
from __future__ import annotations

from pathlib import Path

import orjson

from ehr_core.rest.messages import FhirRequest, FhirResponse

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "testdata"
SYNTHEA = SHARED / "synthea" / "smart-r4-synthea-2019" / "patients"
R4_EXAMPLES = SHARED / "hl7-r4-examples"


def call(handler, method: str, url: str, body=None, **headers) -> FhirResponse:  # noqa: ANN001
    req = FhirRequest.from_url(method, url, headers={k.replace("_", "-").lower(): v for k, v in headers.items()},
                               body=body)
    return handler.handle(req)


def load_json(path: Path) -> dict:
    return orjson.loads(path.read_bytes())
