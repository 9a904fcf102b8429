"""Request and response values of the transport-free REST layer."""
from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlsplit


@dataclass
class FhirRequest:
    method: str                                   # GET, POST, PUT, PATCH, DELETE, HEAD
    path: str                                     # relative to the FHIR base: "Patient/1/_history/2"
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)   # lower-case names
    body: object = None                           # parsed JSON (dict/list) or None
    # Set by the transaction processor: the id already promised to a urn:uuid fullUrl.
    assigned_id: str | None = None
    # Set by the transaction processor once the body passed validation (do not validate twice).
    validated: bool = False
    # Set by the transaction processor once If-None-Exist was evaluated under its lock:
    # the matched resource, or None (then assigned_id is the new id).
    precondition_checked: bool = False
    existing: object = None
    # Who is calling (ehr_core.auth.principal.Principal). None: a trusted internal caller
    # (evk load, the core's tests); the HTTP edge never passes None.
    principal: object = None
    # Set by the access guard: r -> SQL condition narrowing searches, history and $everything.
    restrict: object = None

    @classmethod
    def from_url(cls, method: str, url: str, **kw) -> FhirRequest:  # noqa: ANN003
        parts = urlsplit(url)
        return cls(method.upper(), parts.path.strip("/"), parse_qsl(parts.query, keep_blank_values=True), **kw)

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def segments(self) -> list[str]:
        return [s for s in self.path.split("/") if s]


@dataclass
class FhirResponse:
    status: int
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)
