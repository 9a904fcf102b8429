"""Which FHIR interaction a request is (http.html), classified the way ``Handler.dispatch``
routes it, so the guard decides on exactly what will run."""
from __future__ import annotations

from dataclasses import dataclass

from ehr_core import definitions
from ehr_core.access.grants import DELETE, READ, SEARCH, WRITE
from ehr_core.rest.messages import FhirRequest

__all__ = ["Interaction", "classify"]


@dataclass(frozen=True)
class Interaction:
    kind: str                       # capabilities | read | vread | history | search | create | update
                                    # | patch | delete | operation | unknown
    resource_type: str | None = None
    id: str | None = None
    version: str | None = None
    operation: str | None = None
    compartment: tuple[str, str] | None = None
    conditional: bool = False       # conditional update/patch/delete: the target comes from a search

    @property
    def action(self) -> str:
        return {"read": READ, "vread": READ, "history": READ if self.id else SEARCH, "search": SEARCH,
                "create": WRITE, "update": WRITE, "patch": WRITE, "delete": DELETE}.get(self.kind, READ)

    @property
    def scope_letter(self) -> str:
        return {"read": "r", "vread": "r", "history": "r" if self.id else "s", "search": "s",
                "create": "c", "update": "u", "patch": "u", "delete": "d"}.get(self.kind, "r")

    @property
    def restful(self) -> str:
        """The restful-interaction code (http://hl7.org/fhir/restful-interaction) for audit."""
        if self.kind == "history":
            return "history-instance" if self.id else ("history-type" if self.resource_type else "history-system")
        if self.kind == "search":
            return "search-type" if self.resource_type else "search-system"
        return self.kind

    @property
    def is_write(self) -> bool:
        return self.kind in ("create", "update", "patch", "delete")


def classify(req: FhirRequest) -> Interaction:
    seg, m = req.segments, req.method
    types = definitions.resource_types()
    if not seg:
        return Interaction("search") if m == "GET" else Interaction("unknown")
    first = seg[0]
    if first == "metadata" and len(seg) == 1 and m == "GET":
        return Interaction("capabilities")
    if first == "_history" and len(seg) == 1 and m == "GET":
        return Interaction("history")
    if first == "_search" and len(seg) == 1 and m == "POST":
        return Interaction("search")
    if first.startswith("$"):
        return Interaction("operation", operation=first)
    if first not in types:
        return Interaction("unknown")
    rt = first
    if len(seg) == 1:
        if m in ("GET", "HEAD"):
            return Interaction("search", rt)
        kind = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(m, "unknown")
        return Interaction(kind, rt, conditional=kind in ("update", "patch", "delete"))
    second = seg[1]
    if len(seg) == 2:
        if second == "_search" and m == "POST":
            return Interaction("search", rt)
        if second == "_history" and m == "GET":
            return Interaction("history", rt)
        if second.startswith("$"):
            return Interaction("operation", rt, operation=second)
        kind = {"GET": "read", "HEAD": "read", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(m, "unknown")
        return Interaction(kind, rt, second)
    if seg[2] == "_history" and m == "GET":
        if len(seg) == 3:
            return Interaction("history", rt, second)
        if len(seg) == 4:
            return Interaction("vread", rt, second, version=seg[3])
    elif len(seg) == 3 and seg[2].startswith("$"):
        return Interaction("operation", rt, second, operation=seg[2])
    elif len(seg) == 3 and m == "GET" and rt == "Patient" and seg[2] in types:
        return Interaction("search", seg[2], compartment=(rt, second))
    return Interaction("unknown")
