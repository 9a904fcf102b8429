"""Conditional create, update, patch and delete (http.html#cond-update, #ccreate, #cdelete).

Race-freedom: before searching, the unit of work takes a lock keyed by the resource type and
the normalised criteria, and holds it until commit. Two identical conditional creates therefore
run one after the other, and the second one's search sees the first one's committed row.
"""
from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from ehr_core import errors
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.storage.records import StoredResource
from ehr_core.storage.repository import Session

if TYPE_CHECKING:
    from ehr_core.rest.handler import Handler


def criteria_params(criteria: str) -> list[tuple[str, str]]:
    query = criteria.split("?", 1)[1] if "?" in criteria else criteria
    params = parse_qsl(query, keep_blank_values=True)
    if not params:
        raise errors.bad_request(f"Condition {criteria!r} has no search parameters")
    return params


def lock_key(rt: str, params: list[tuple[str, str]]) -> str:
    return rt + "?" + "&".join(f"{k}={v}" for k, v in sorted(params))


def matches(s: Session, rt: str, params: list[tuple[str, str]], *, lock: bool) -> list[StoredResource]:
    """Current resources matching the criteria (at most two: one is enough to know it is >1)."""
    from ehr_core.search.engine import find_matches
    if lock:
        s.lock(lock_key(rt, params))
    s.flush()
    return [s.read(t, i) for t, i in find_matches(s.conn, rt, params, limit=2)]


def existing_for_create(h: Handler, s: Session, rt: str, criteria: str) -> StoredResource | None:
    found = matches(s, rt, criteria_params(criteria), lock=True)
    if len(found) > 1:
        raise errors.multiple_matches(f"If-None-Exist {criteria!r} matches more than one {rt}")
    return found[0] if found else None


def resolve_reference(s: Session, reference: str) -> str:
    """``Patient?identifier=x|y`` → ``Patient/<id>``; exactly one match or an error."""
    rt, _, query = reference.partition("?")
    found = matches(s, rt, criteria_params(query), lock=False)
    if len(found) != 1:
        how = "nothing" if not found else "more than one resource"
        raise errors.FhirError(400 if not found else 412, [errors.Issue(
            "error", "not-found" if not found else "multiple-matches",
            f"Conditional reference {reference!r} matches {how}")])
    return found[0].reference


def update(h: Handler, req: FhirRequest, s: Session, rt: str) -> FhirResponse:
    params = [(k, v) for k, v in req.query if not k.startswith("_format")]
    found = matches(s, rt, params, lock=True)
    if len(found) > 1:
        raise errors.multiple_matches(f"Conditional update on {rt} matches more than one resource")
    resource = h.body_resource(req, rt)
    if found:
        id = found[0].id
        if resource.get("id", id) != id:
            raise errors.bad_request(f"The id in the body ({resource['id']}) is not the matched {rt}/{id}",
                                     expression=(f"{rt}.id",))
    else:
        id = resource.get("id") or req.assigned_id
        if id is None:
            resource.pop("id", None)
            if not req.validated:
                h.check(resource)
            stored = s.create(resource)
            return h.written(req, stored, 201, "Created")
    sub = FhirRequest("PUT", f"{rt}/{id}", [], req.headers, dict(resource, id=id), validated=req.validated)
    return h.update(sub, s, rt, id)


def patch(h: Handler, req: FhirRequest, s: Session, rt: str) -> FhirResponse:
    found = matches(s, rt, list(req.query), lock=True)
    if len(found) != 1:
        if not found:
            raise errors.not_found(f"Conditional patch on {rt}: nothing matches")
        raise errors.multiple_matches(f"Conditional patch on {rt} matches more than one resource")
    return h.patch(req, s, rt, found[0].id)


def delete(h: Handler, req: FhirRequest, s: Session, rt: str) -> FhirResponse:
    found = matches(s, rt, list(req.query), lock=True)
    if len(found) > 1:
        raise errors.multiple_matches(f"Conditional delete on {rt} matches more than one resource")
    if not found:
        return FhirResponse(204)
    return h.delete(s, rt, found[0].id)
