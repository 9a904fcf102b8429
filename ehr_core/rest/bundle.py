"""Batch and transaction Bundles (https://hl7.org/fhir/R4/http.html#transaction).

Transaction: all entries in one unit of work; any failure rolls everything back and the
OperationOutcome names the entry. Order as the spec says: DELETE, POST, PUT/PATCH, GET/HEAD.
Before anything is written, every ``urn:uuid:``/absolute ``fullUrl`` is bound to the id it will
have (a new id for creates, the matched id for conditional creates/updates) and every reference
to it — in extensions and contained resources too — is rewritten; conditional references
(``Patient?identifier=...``) are resolved to exactly one resource.
Batch: each entry in its own unit of work; failures are reported per entry.
"""
from __future__ import annotations

from contextlib import nullcontext
from http import HTTPStatus
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from ehr_core import errors
from ehr_core.errors import Issue, operation_outcome
from ehr_core.rest import conditional
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.rest.references import rewrite_references
from ehr_core.storage.repository import Session, new_id

if TYPE_CHECKING:
    from ehr_core.rest.handler import Handler

ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}


def _entry_error(index: int, exc: errors.FhirError) -> errors.FhirError:
    issues = [Issue(i.severity, i.code, f"Bundle.entry[{index}]: {i.diagnostics}",
                    i.expression or (f"Bundle.entry[{index}]",), i.rule, i.message_lv) for i in exc.issues]
    return errors.FhirError(exc.status, issues, exc.headers)


def process_bundle(h: Handler, req: FhirRequest) -> FhirResponse:
    bundle = req.body
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise errors.bad_request("POST to the base URL takes a Bundle")
    kind = bundle.get("type")
    if kind not in ("batch", "transaction"):
        raise errors.bad_request(f"Bundle.type must be batch or transaction, not {kind!r}",
                                 expression=("Bundle.type",), rule="evk-bundle-type")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise errors.bad_request("Bundle.entry must be an array", expression=("Bundle.entry",))
    if kind == "batch":
        requests = [_entry_request(i, e, req) for i, e in enumerate(entries)]
        return FhirResponse(200, _response_bundle("batch-response", [_batch_entry(h, i, r) for i, r in enumerate(requests)]))
    # A system's transaction is a submission: recorded whether accepted or refused.
    with h.submissions.recording(req, bundle) if h.submissions else nullcontext() as submission:
        requests = [_entry_request(i, e, req) for i, e in enumerate(entries)]
        return _transaction(h, bundle, requests, submission)


def _entry_request(index: int, entry: object, outer: FhirRequest) -> FhirRequest:
    where = f"Bundle.entry[{index}]"
    if not isinstance(entry, dict):
        raise errors.bad_request(f"{where} must be an object", expression=(where,))
    request = entry.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("method"), str) or not isinstance(request.get("url"), str):
        raise errors.bad_request(f"{where} needs request.method and request.url", expression=(f"{where}.request",),
                                 rule="evk-entry-request")
    method = request["method"].upper()
    if method not in ORDER:
        raise errors.bad_request(f"{where}: method {method!r} is not allowed", expression=(f"{where}.request.method",),
                                 rule="evk-entry-method")
    parts = urlsplit(request["url"])
    resource = entry.get("resource")
    found = resource.get("resourceType") if isinstance(resource, dict) else None
    target = parts.path.strip("/").split("/", 1)[0]
    if method in ("POST", "PUT") and isinstance(found, str) and target != found:
        raise errors.bad_request(f"{where}: request.url {request['url']!r} does not match the resource type {found}",
                                 expression=(f"{where}.request.url",), rule="evk-entry-url")
    headers = {"prefer": outer.header("prefer") or ""}
    for field, header in (("ifMatch", "if-match"), ("ifNoneExist", "if-none-exist"),
                          ("ifNoneMatch", "if-none-match"), ("ifModifiedSince", "if-modified-since")):
        if isinstance(request.get(field), str):
            headers[header] = request[field]
    sub = FhirRequest(method, parts.path.strip("/"), parse_qsl(parts.query, keep_blank_values=True),
                      headers, entry.get("resource"), principal=outer.principal)
    sub.full_url = entry.get("fullUrl")  # type: ignore[attr-defined]
    sub.index = index  # type: ignore[attr-defined]
    return sub


def _batch_entry(h: Handler, index: int, sub: FhirRequest) -> dict:
    try:
        if sub.method in ("POST", "PUT") and isinstance(sub.body, dict):
            with h.repo.session(write=True) as s:
                _rewrite_references(s, [sub], {})
                return _response_entry(h, h.dispatch(sub, s))
        return _response_entry(h, h.handle(sub))
    except errors.FhirError as exc:
        return _response_entry(h, FhirResponse(exc.status, exc.outcome))


def _transaction(h: Handler, bundle: dict, requests: list[FhirRequest], submission=None) -> FhirResponse:  # noqa: ANN001
    _check_full_urls(requests)
    responses: dict[int, FhirResponse] = {}
    # Leaving this block by an exception rolls back every entry.
    with h.repo.session(write=True) as s:
        bindings = _bind_full_urls(h, s, requests)
        _rewrite_references(s, requests, bindings)
        _validate_all(h, requests, s, set(bindings.values()), submission)
        for sub in sorted(requests, key=lambda r: ORDER[r.method]):
            try:
                resp = h.dispatch(sub, s)
            except errors.FhirError as exc:
                raise _entry_error(sub.index, exc) from None  # type: ignore[attr-defined]
            responses[sub.index] = resp  # type: ignore[attr-defined]
        if submission is not None:
            h.submissions.accepted(submission, s)     # committed with the data
    entries = [_response_entry(h, responses[i]) for i in range(len(requests))]
    if submission is not None:       # a submission's warnings reach its sender with each entry
        for i, notes in submission.warnings.items():
            entries[i]["response"].setdefault("outcome", operation_outcome(notes))
    return FhirResponse(200, _response_bundle("transaction-response", entries))


def _check_full_urls(requests: list[FhirRequest]) -> None:
    seen: dict[str, int] = {}
    for sub in requests:
        url = getattr(sub, "full_url", None)
        if url is None:
            continue
        where = f"Bundle.entry[{sub.index}].fullUrl"  # type: ignore[attr-defined]
        if not isinstance(url, str) or not (url.startswith(("urn:uuid:", "urn:oid:")) or "://" in url):
            raise errors.bad_request(f"{where} {url!r} is not an absolute URI", expression=(where,),
                                     rule="evk-fullurl-relative")
        if url in seen:
            raise errors.bad_request(f"{where} {url!r} repeats Bundle.entry[{seen[url]}].fullUrl", expression=(where,),
                                     rule="evk-fullurl-duplicate")
        seen[url] = sub.index  # type: ignore[attr-defined]


def _bind_full_urls(h: Handler, s: Session, requests: list[FhirRequest]) -> dict[str, str]:
    """fullUrl -> "Type/id" for every entry that creates or updates a resource."""
    bindings: dict[str, str] = {}
    s.lock(*_condition_keys(requests))
    # Conditional creates with the same criteria and no stored match: the first creates, the
    # later ones match what it created (checked again when they run, after it was written), so
    # a Bundle naming one patient twice by identifier does not store two.
    planned: dict[str, str] = {}
    for sub in requests:
        seg = sub.segments
        full_url = getattr(sub, "full_url", None)
        if not seg or not isinstance(sub.body, dict):
            continue
        rt = seg[0]
        target: str | None = None
        try:
            if sub.method == "POST" and len(seg) == 1:
                existing = None
                criteria = sub.header("if-none-exist")
                key = conditional.lock_key(rt, conditional.criteria_params(criteria)) if criteria else None
                if key in planned:
                    target = planned[key]
                else:
                    if criteria:
                        existing = conditional.existing_for_create(h, s, rt, criteria)
                        sub.precondition_checked, sub.existing = True, existing
                    if existing is not None:
                        target = existing.reference
                    else:
                        sub.assigned_id = new_id()
                        target = f"{rt}/{sub.assigned_id}"
                        if key is not None:
                            planned[key] = target
            elif sub.method == "PUT" and len(seg) == 2:
                target = f"{rt}/{seg[1]}"
            elif sub.method == "PUT" and len(seg) == 1 and sub.query:
                found = conditional.matches(s, rt, sub.query, lock=True)
                if len(found) == 1:
                    target = found[0].reference
                elif not found:
                    sub.assigned_id = sub.body.get("id") or new_id()
                    sub.body["id"] = sub.assigned_id
                    target = f"{rt}/{sub.assigned_id}"
        except errors.FhirError as exc:
            raise _entry_error(sub.index, exc) from None  # type: ignore[attr-defined]
        if target and full_url:
            bindings[full_url] = target
            # "http://other.org/fhir/Patient/1" entries may be referenced in relative form too
            if "://" in full_url and not full_url.startswith("urn:"):
                tail = "/".join(full_url.rstrip("/").split("/")[-2:])
                bindings.setdefault(tail, target)
    return bindings


def _condition_keys(requests: list[FhirRequest]) -> list[str]:
    keys = []
    for sub in requests:
        seg = sub.segments
        if not seg:
            continue
        criteria = sub.header("if-none-exist") if sub.method == "POST" else None
        if criteria:
            keys.append(conditional.lock_key(seg[0], conditional.criteria_params(criteria)))
        elif sub.method in ("PUT", "DELETE", "PATCH") and len(seg) == 1 and sub.query:
            keys.append(conditional.lock_key(seg[0], sub.query))
    return keys


def _rewrite_references(s: Session, requests: list[FhirRequest], bindings: dict[str, str]) -> None:
    """One walk per resource: fullUrls bound to assigned ids, conditional references
    (``Patient?identifier=...``) to the one match. One search per distinct condition: a
    patient bundle names the same practitioner or organisation in hundreds of entries."""
    resolved: dict[str, str] = {}
    for sub in requests:
        if not isinstance(sub.body, dict):
            continue

        def rewrite(ref: str, sub: FhirRequest = sub) -> str | None:
            bound = bindings.get(ref)
            if bound is not None:
                return bound
            if "?" not in ref or ref.startswith(("urn:", "#")) or "://" in ref.split("?", 1)[0]:
                return None
            if ref not in resolved:
                try:
                    resolved[ref] = conditional.resolve_reference(s, ref)
                except errors.FhirError as exc:
                    raise _entry_error(getattr(sub, "index", 0), exc) from None
            return resolved[ref]

        rewrite_references(sub.body, rewrite)


def _validate_all(h: Handler, requests: list[FhirRequest], s: Session, bound: set[str], submission=None) -> None:  # noqa: ANN001
    """Every entry before anything is written; references may point at what the transaction
    itself creates (``bound``) or at the store. A submission is held to its client's tier."""
    from ehr_core.rest.handler import STRUCTURAL, without_server_meta
    exists, owner = h.exists_in(s, also=bound), h.identifier_owner(s)
    validator, issues = h.submissions.checks(submission, s) if submission is not None else (None, [])
    status = 400 if any(i.code in STRUCTURAL for i in issues) else 422
    for sub in requests:
        if sub.method in ("POST", "PUT") and isinstance(sub.body, dict):
            try:
                body = sub.body if sub.method == "POST" else without_server_meta(sub.body)
                plain_create = sub.method == "POST" and not sub.header("if-none-exist")
                notes = h.check(body, path=f"Bundle.entry[{sub.index}].resource", exists=exists,  # type: ignore[attr-defined]
                                owner=owner if plain_create else None, validator=validator)
                sub.validated = True
                if submission is not None and notes:
                    submission.warnings[sub.index] = notes  # type: ignore[attr-defined]
            except errors.FhirError as exc:
                issues.extend(exc.issues)
                status = min(status, exc.status)
    if issues:
        raise errors.FhirError(status, issues)


def _response_entry(h: Handler, resp: FhirResponse) -> dict:
    response: dict = {"status": f"{resp.status} {HTTPStatus(resp.status).phrase}"}
    location = resp.headers.get("Location")
    if location:
        response["location"] = location[len(h.base) + 1:] if location.startswith(h.base + "/") else location
    if "ETag" in resp.headers:
        response["etag"] = resp.headers["ETag"]
    body = resp.body
    entry: dict = {}
    if resp.status >= 400:
        response["outcome"] = body or operation_outcome([])
    elif body is not None:
        if body.get("resourceType") == "OperationOutcome":
            response["outcome"] = body
        else:
            entry["resource"] = body
            if body.get("id"):
                entry["fullUrl"] = f"{h.base}/{body['resourceType']}/{body['id']}"
            meta = body.get("meta") or {}
            if meta.get("lastUpdated"):
                response["lastModified"] = meta["lastUpdated"]
    entry["response"] = response
    return entry


def _response_bundle(kind: str, entries: list[dict]) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": entries}
