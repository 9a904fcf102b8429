"""What the guard decided for one request, and the context it decided in."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from ehr_core.access.grants import Entitlements, Grant
from ehr_core.access.interaction import Interaction
from ehr_core.access.rules import Verdict
from ehr_core.auth.principal import Principal
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.storage.repository import Session

__all__ = ["Context", "Decision"]


@dataclass
class Context:
    principal: Principal
    ents: Entitlements
    it: Interaction
    req: FhirRequest
    s: Session
    guard: object            # the Guard (settings, indexer, operation policies)


@dataclass
class Decision:
    verdict: Verdict
    grant: Grant | None = None
    patients: tuple[str, ...] = ()           # patients the request concerns (reads, writes)
    entities: list[str] = field(default_factory=list)
    restrict: Callable | None = None         # SQL narrowing for searches, history, $everything
    from_response: bool = False              # the patients touched come from the response Bundle
    query: str | None = None                 # searches: what was asked, for the audit entity
    after: Callable[[FhirResponse], FhirResponse] | None = None   # post-processing (writes, filters)
    audit: bool = True
