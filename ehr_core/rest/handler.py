"""FHIR RESTful interactions (https://hl7.org/fhir/R4/http.html), independent of any web framework.

``Handler.handle`` routes one request, opens the unit of work it needs, and turns every
``FhirError`` into an OperationOutcome response. ``Handler.dispatch`` runs a request inside a
unit of work the caller owns; the transaction processor uses it for every entry.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Protocol

import jsonpatch

from ehr_core import definitions, errors
from ehr_core.errors import Issue
from ehr_core.rest import conditional, history_bundle, prefer
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.settings import Settings
from ehr_core.storage.repository import Repository, Session
from ehr_core.storage.records import StoredResource

ID_RE = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# Parameters about the response format, not the search (search.html#general).
FORMAT_PARAMS = {"_format", "_pretty"}
# Validator issue types that mean "not valid FHIR" (400) rather than "breaks a rule" (422).
STRUCTURAL = {"structure", "required", "value", "invalid", "too-long"}


class Validator(Protocol):
    def validate(self, resource: dict, *, path: str | None = None) -> list[Issue]: ...


Operation = Callable[[FhirRequest, Session, "Handler"], FhirResponse]


class Handler:
    def __init__(self, repo: Repository, settings: Settings, *, validator: Validator | None = None):
        self.repo = repo
        self.settings = settings
        self.validator = validator
        self.resource_types = definitions.resource_types()
        # (resource type or None for system level, "$name", instance level?) -> callable
        self.operations: dict[tuple[str | None, str, bool], Operation] = {}
        self.guard = None   # ehr_core.access.guard.Guard, wired by ehr_core/service.py
        self.submissions = None   # adapters.national.submissions.SubmissionLog, wired likewise
        # (type, id) -> resource published read-only by the server itself (the national
        # package's StructureDefinitions and NamingSystems): readable, never writable.
        self.published: dict[tuple[str, str], dict] = {}
        # type -> search answered by an adapter instead of the store (the terminology catalogue).
        self.published_searches: dict[str, Operation] = {}
        # Run before a request opens its unit of work, so that what they store is in its
        # snapshot (the audit journal's projection of AuditEvents, ehr_core/audit/journal.py).
        self.before_unit_of_work: list[Callable[[FhirRequest], None]] = []

    @property
    def base(self) -> str:
        return self.settings.fhir_base

    # --- entry points ----------------------------------------------------------------------
    def handle(self, req: FhirRequest) -> FhirResponse:
        try:
            for prepare in self.before_unit_of_work:
                prepare(req)
            if not req.segments and req.method == "POST":
                from ehr_core.rest.bundle import process_bundle
                return process_bundle(self, req)
            write = req.method not in ("GET", "HEAD") and not _is_search_post(req)
            with self.repo.session(write=write) as s:
                return self.dispatch(req, s)
        except errors.FhirError as exc:
            return FhirResponse(exc.status, exc.outcome, dict(exc.headers))

    def dispatch(self, req: FhirRequest, s: Session) -> FhirResponse:
        if req.principal is not None:   # no guard wired: fails closed
            return self.guard.run(req, s, self._route)    # access control + audit (ehr_core/access)
        return self._route(req, s)

    def _route(self, req: FhirRequest, s: Session) -> FhirResponse:
        seg, m = req.segments, req.method
        if not seg:
            if m == "GET":
                return self.search(req, s, None)
            raise errors.method_not_allowed(f"{m} is not supported at the base URL")
        first = seg[0]
        if first == "metadata" and len(seg) == 1 and m == "GET":
            from ehr_core.rest.capability import capability_statement
            return FhirResponse(200, capability_statement(self))
        if first == "_history" and len(seg) == 1 and m == "GET":
            return history_bundle.respond(self, req, s, None, None)
        if first == "_search" and len(seg) == 1 and m == "POST":
            return self.search(req, s, None)
        if first.startswith("$"):
            return self._operation(req, s, None, first, None)
        rt = first
        if rt not in self.resource_types:
            raise errors.not_found(f"Unknown resource type {rt!r}")
        if len(seg) == 1:
            return self._type_level(req, s, rt)
        second = seg[1]
        if len(seg) == 2:
            if second == "_search" and m == "POST":
                return self.search(req, s, rt)
            if second == "_history" and m == "GET":
                return history_bundle.respond(self, req, s, rt, None)
            if second.startswith("$"):
                return self._operation(req, s, rt, second, None)
            return self._instance_level(req, s, rt, _checked_id(second))
        id = _checked_id(second)
        if seg[2] == "_history":
            if len(seg) == 3 and m == "GET":
                return history_bundle.respond(self, req, s, rt, id)
            if len(seg) == 4 and m == "GET":
                return self.vread(s, rt, id, seg[3])
        elif len(seg) == 3 and seg[2].startswith("$"):
            return self._operation(req, s, rt, seg[2], id)
        elif len(seg) == 3 and m == "GET" and rt == "Patient":
            if seg[2] not in self.resource_types:
                raise errors.not_found(f"Unknown resource type {seg[2]!r}")
            return self.search(req, s, seg[2], compartment=(rt, id))
        raise errors.not_found(f"No interaction at {req.method} {req.path}")

    # --- routing helpers -------------------------------------------------------------------
    def _type_level(self, req: FhirRequest, s: Session, rt: str) -> FhirResponse:
        m = req.method
        if m == "GET":
            return self.search(req, s, rt)
        if m == "POST":
            return self.create(req, s, rt)
        if m in ("PUT", "PATCH", "DELETE") and not _search_params(req):
            raise errors.bad_request(f"Conditional {m} needs search parameters in the URL")
        if m == "PUT":
            return conditional.update(self, req, s, rt)
        if m == "PATCH":
            return conditional.patch(self, req, s, rt)
        if m == "DELETE":
            return conditional.delete(self, req, s, rt)
        raise errors.method_not_allowed(f"{m} is not supported on {rt}")

    def _instance_level(self, req: FhirRequest, s: Session, rt: str, id: str) -> FhirResponse:
        m = req.method
        if (rt, id) in self.published:
            if m in ("GET", "HEAD"):
                return FhirResponse(200, copy.deepcopy(self.published[(rt, id)]))
            raise errors.method_not_allowed(f"{rt}/{id} is published by the server and read-only")
        if m in ("GET", "HEAD"):
            return self.read(req, s, rt, id)
        if m == "PUT":
            return self.update(req, s, rt, id)
        if m == "PATCH":
            return self.patch(req, s, rt, id)
        if m == "DELETE":
            return self.delete(s, rt, id)
        raise errors.method_not_allowed(f"{m} is not supported on {rt}/{id}")

    def _operation(self, req: FhirRequest, s: Session, rt: str | None, name: str, id: str | None) -> FhirResponse:
        op = self.operations.get((rt, name, id is not None))
        if op is None:
            where = f"{rt}/{id}" if id else rt or "the system level"
            raise errors.not_found(f"Operation {name} is not supported on {where}")
        req.path_id = id  # type: ignore[attr-defined]
        return op(req, s, self)

    # --- interactions ----------------------------------------------------------------------
    def read(self, req: FhirRequest, s: Session, rt: str, id: str) -> FhirResponse:
        stored = s.read(rt, id)
        if req.header("if-none-match") in (stored.etag, stored.etag[2:]):
            return FhirResponse(304, None, _headers(stored))
        return FhirResponse(200, stored.resource(), _headers(stored))

    def vread(self, s: Session, rt: str, id: str, vid: str) -> FhirResponse:
        if not vid.isdigit():
            raise errors.not_found(f"{rt}/{id} has no version {vid!r}")
        stored = s.vread(rt, id, int(vid))
        return FhirResponse(200, stored.resource(), _headers(stored))

    def create(self, req: FhirRequest, s: Session, rt: str) -> FhirResponse:
        resource = self.body_resource(req, rt)
        resource.pop("id", None)   # http.html#create: a client-sent id is ignored
        criteria = req.header("if-none-exist")
        if criteria:
            existing = (req.existing if req.precondition_checked
                        else conditional.existing_for_create(self, s, rt, criteria))
            if existing is not None:
                return FhirResponse(200, prefer.write_body(req, existing, "Matched an existing resource"),
                                    _headers(existing))
        if not req.validated:
            self.check(resource, exists=self.exists_in(s), owner=None if criteria else self.identifier_owner(s))
        stored = s.create(resource, id=req.assigned_id)
        return self.written(req, stored, 201, "Created")

    def update(self, req: FhirRequest, s: Session, rt: str, id: str) -> FhirResponse:
        resource = self.body_resource(req, rt)
        if "id" not in resource:
            raise errors.bad_request("An update must carry the resource id", expression=(f"{rt}.id",))
        if resource["id"] != id:
            raise errors.bad_request(f"The id in the body ({resource['id']}) is not the id in the URL ({id})",
                                     expression=(f"{rt}.id",))
        if not req.validated:
            self.check(without_server_meta(resource), exists=self.exists_in(s))
        stored, created, _ = s.update(rt, id, resource, if_match=_if_match(req))
        return self.written(req, stored, 201 if created else 200, "Created" if created else "Updated")

    def patch(self, req: FhirRequest, s: Session, rt: str, id: str) -> FhirResponse:
        ops = req.body
        if not isinstance(ops, list):
            raise errors.bad_request("PATCH takes a JSON Patch document (application/json-patch+json)")
        current = s.read(rt, id)
        want = _if_match(req)
        if want is not None and want != current.version_id:
            raise errors.precondition_failed(f"If-Match wants version {want}; the server has {current.version_id}")
        try:
            patched = jsonpatch.apply_patch(current.resource(), ops)
        except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, TypeError, KeyError) as exc:
            raise errors.FhirError(422, [Issue("error", "processing", f"JSON Patch failed: {exc}")]) from None
        if patched.get("resourceType") != rt or patched.get("id") != id:
            raise errors.FhirError(422, [Issue("error", "processing", "A patch may not change resourceType or id")])
        self.check(without_server_meta(patched), exists=self.exists_in(s))
        stored, _, _ = s.update(rt, id, patched, if_match=current.version_id)
        return self.written(req, stored, 200, "Patched")

    def delete(self, s: Session, rt: str, id: str) -> FhirResponse:
        tombstone = s.delete(rt, id)
        headers = {"ETag": tombstone.etag} if tombstone else {}
        return FhirResponse(204, None, headers)

    def search(self, req: FhirRequest, s: Session, rt: str | None,
               compartment: tuple[str, str] | None = None) -> FhirResponse:
        if rt in self.published_searches and compartment is None:
            return self.published_searches[rt](req, s, self)
        from ehr_core.search.bundle import searchset_bundle
        from ehr_core.search.engine import execute_search
        from ehr_core.search.query import parse_search
        params = _search_params(req)
        sreq = parse_search(rt, params, strict=prefer.strict_handling(req), compartment=compartment)
        result = execute_search(s.conn, sreq, restrict=req.restrict)
        return FhirResponse(200, searchset_bundle(result, sreq, base_url=self.base))

    # --- shared steps ----------------------------------------------------------------------
    def body_resource(self, req: FhirRequest, rt: str) -> dict:
        body = req.body
        if not isinstance(body, dict):
            raise errors.bad_request("The body must be a FHIR resource (a JSON object)")
        found = body.get("resourceType")
        if found != rt:
            raise errors.bad_request(f"The body is a {found!r}, the URL says {rt}", expression=(f"{rt}",))
        return body

    def check(self, resource: dict, *, path: str | None = None,
              exists: Callable[[str, str], bool] | None = None,
              owner: Callable[[str, str, str], str | None] | None = None,
              validator: Validator | None = None) -> list[Issue]:
        """Validate before storing (with ``validator``, else the handler's); every error at once.
        A validator that declares ``resolves_references`` also gets the store: ``exists(type, id)``
        for references and, on a plain create, ``owner(type, system, value)`` for duplicate
        business identifiers. Returns the warnings and information of a resource that passed."""
        validator = validator or self.validator
        if validator is None:
            return []
        if exists is not None and getattr(validator, "resolves_references", False):
            found = validator.validate(resource, path=path, exists=exists, owner=owner)  # type: ignore[call-arg]
        else:
            found = validator.validate(resource, path=path)
        issues = [i for i in found if i.severity in ("error", "fatal")]
        if issues:
            status = 400 if any(i.code in STRUCTURAL for i in issues) else 422
            raise errors.FhirError(status, issues)
        return found

    @staticmethod
    def exists_in(s: Session, also: set[str] = frozenset()) -> Callable[[str, str], bool]:  # type: ignore[assignment]
        """``exists(type, id)``: in ``also`` ("Type/id" about to be written) or in the store."""
        def exists(rt: str, id: str) -> bool:
            if f"{rt}/{id}" in also:
                return True
            try:
                s.read(rt, id)
            except errors.FhirError:
                return False
            return True
        return exists

    @staticmethod
    def identifier_owner(s: Session) -> Callable[[str, str, str], str | None]:
        """``owner(type, system, value)``: "Type/id" of a stored resource with that identifier."""
        def owner(rt: str, system: str, value: str) -> str | None:
            try:
                found = conditional.matches(s, rt, [("identifier", f"{system}|{value}")], lock=False)
            except errors.FhirError:
                return None
            return found[0].reference if found else None
        return owner

    def written(self, req: FhirRequest, stored: StoredResource, status: int, message: str) -> FhirResponse:
        headers = _headers(stored)
        headers["Location"] = f"{self.base}/{stored.resource_type}/{stored.id}/_history/{stored.version_id}"
        return FhirResponse(status, prefer.write_body(req, stored, message), headers)


def without_server_meta(resource: dict) -> dict:
    """The resource as checked on update: ``meta.versionId``/``meta.lastUpdated`` are the
    server's and replaced on every write, so an update carrying the ones it read (or a patch of
    the stored resource) is judged without them; on create they are refused (national rules)."""
    meta = resource.get("meta")
    if type(meta) is not dict or not ("versionId" in meta or "lastUpdated" in meta):
        return resource
    meta = {k: v for k, v in meta.items() if k not in ("versionId", "lastUpdated")}
    out = {k: v for k, v in resource.items() if k != "meta"}
    if meta:
        out["meta"] = meta
    return out


def _headers(stored: StoredResource) -> dict[str, str]:
    return {"ETag": stored.etag, "Last-Modified": stored.last_modified}


def _checked_id(id: str) -> str:
    if not ID_RE.match(id):
        raise errors.bad_request(f"{id!r} is not a valid FHIR id")
    return id


def _if_match(req: FhirRequest) -> int | None:
    raw = req.header("if-match")
    if not raw:
        return None
    m = re.fullmatch(r'\s*(?:W/)?"?(\d+)"?\s*', raw)
    if not m:
        raise errors.bad_request(f"If-Match {raw!r} is not a version ETag")
    return int(m.group(1))


def _is_search_post(req: FhirRequest) -> bool:
    return req.method == "POST" and bool(req.segments) and req.segments[-1] == "_search"


def _search_params(req: FhirRequest) -> list[tuple[str, str]]:
    params = [(k, v) for k, v in req.query if k not in FORMAT_PARAMS]
    if _is_search_post(req) and isinstance(req.body, list):
        params += [(k, v) for k, v in req.body if k not in FORMAT_PARAMS]
    return params
