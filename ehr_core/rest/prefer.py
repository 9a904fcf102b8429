"""The ``Prefer`` header (http.html#ops): return=minimal|representation|OperationOutcome, handling."""
from __future__ import annotations

from ehr_core.errors import Issue, operation_outcome
from ehr_core.rest.messages import FhirRequest
from ehr_core.storage.records import StoredResource


def preferences(req: FhirRequest) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in (req.header("prefer") or "").split(";"):
        for item in part.split(","):
            if "=" in item:
                k, v = item.split("=", 1)
                out[k.strip().lower()] = v.strip().strip('"')
    return out


def strict_handling(req: FhirRequest) -> bool:
    return preferences(req).get("handling") == "strict"


def write_body(req: FhirRequest, stored: StoredResource, message: str) -> dict | None:
    """What a create/update/patch returns, as the client asked."""
    wanted = preferences(req).get("return", "representation")
    if wanted == "minimal":
        return None
    if wanted.lower() == "operationoutcome":
        return operation_outcome([Issue("information", "informational", message)])
    return stored.resource()
