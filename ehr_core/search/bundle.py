"""The searchset Bundle (https://hl7.org/fhir/R4/bundle.html#searchset, search.html#return).

Entries carry ``search.mode`` match or include; warnings (ignored parameters, capped includes)
travel in an OperationOutcome entry with ``search.mode=outcome``. Links: ``self`` is the search
as the server understood it (ignored parameters left out), ``first`` the same from the start,
``next``/``previous`` the same with the cursor of the neighbouring page.
"""
from __future__ import annotations

from urllib.parse import quote, urlencode

import orjson

from ehr_core.errors import operation_outcome
from ehr_core.search import cursor as cursors
from ehr_core.search.engine import SearchResult
from ehr_core.search.query import SearchRequest
from ehr_core.search.summary import shape
from ehr_core.storage.records import StoredResource

__all__ = ["searchset_bundle"]


def searchset_bundle(result: SearchResult, req: SearchRequest, *, base_url: str) -> dict:
    base = base_url.rstrip("/")
    bundle: dict = {"resourceType": "Bundle", "type": "searchset"}
    if result.total is not None:
        bundle["total"] = result.total
    bundle["link"] = _links(result, req, base)
    entries = [_entry(m, "match", req, base, subset=True) for m in result.matches]
    entries += [_entry(i, "include", req, base, subset=False) for i in result.includes]
    if result.issues:
        entries.append({"resource": operation_outcome(result.issues), "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def _entry(stored: StoredResource, mode: str, req: SearchRequest, base: str, *, subset: bool) -> dict:
    resource = orjson.loads(stored.content)
    # _elements names elements of the searched type; _summary applies to every entry.
    resource = shape(resource, req.summary, req.elements if subset else None)
    return {"fullUrl": f"{base}/{stored.resource_type}/{stored.id}", "resource": resource,
            "search": {"mode": mode}}


def _links(result: SearchResult, req: SearchRequest, base: str) -> list[dict]:
    here = f"{base}/{req.path}" if req.path else base
    params = list(req.link_params)
    current = [("_cursor", cursors.encode(req.cursor))] if req.cursor is not None else []
    links = [{"relation": "self", "url": _url(here, params + current)},
             {"relation": "first", "url": _url(here, params)}]
    if result.next_cursor:
        links.append({"relation": "next", "url": _url(here, params + [("_cursor", result.next_cursor)])})
    if result.previous_cursor:
        links.append({"relation": "previous", "url": _url(here, params + [("_cursor", result.previous_cursor)])})
    return links


def _url(here: str, params: list[tuple[str, str]]) -> str:
    if not params:
        return here
    return here + "?" + urlencode(params, quote_via=quote, safe=":,|$/*")
