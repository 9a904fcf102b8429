"""History Bundles (http.html#history): ``_since``, ``_at``, ``_count`` and stable paging links."""
from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from ehr_core import errors
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.search.normalize import DateFormatError, date_range
from ehr_core.storage.history import HistoryQuery, history
from ehr_core.storage.records import instant
from ehr_core.storage.repository import Session

if TYPE_CHECKING:
    from ehr_core.rest.handler import Handler


def _micros(value: str, name: str) -> tuple[int, int]:
    try:
        low, high = date_range(value)
    except DateFormatError:
        raise errors.bad_request(f"{name}={value!r} is not a FHIR instant/dateTime") from None
    return int(low * 1_000_000), int(high * 1_000_000)


def _int(value: str, name: str) -> int:
    if not value.isdigit():
        raise errors.bad_request(f"{name}={value!r} is not a non-negative integer")
    return int(value)


def _encode_page(key: tuple[int, str, str, int]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _decode_page(token: str) -> tuple[int, str, str, int]:
    try:
        lu, rt, id, ver = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        return int(lu), str(rt), str(id), int(ver)
    except (ValueError, TypeError):
        raise errors.bad_request(f"_page={token!r} is not a page of this history") from None


def respond(h: Handler, req: FhirRequest, s: Session, rt: str | None, id: str | None) -> FhirResponse:
    args = dict(req.query)
    if id is not None:
        if s.current(rt, id) is None:
            raise errors.not_found(f"{rt}/{id} is not known")
    count = min(_int(args.get("_count", str(h.settings.default_page_size)), "_count"), h.settings.max_page_size)
    q = HistoryQuery(
        resource_type=rt, id=id,
        since=_micros(args["_since"], "_since")[0] if "_since" in args else None,
        at=_micros(args["_at"], "_at") if "_at" in args else None,
        after=_decode_page(args["_page"]) if "_page" in args else None, count=count,
    )
    entries, more = history(s.conn, q, restrict=req.restrict)
    path = "/".join(p for p in (rt, id, "_history") if p)
    keep = {k: v for k, v in args.items() if k in ("_since", "_at", "_count")}

    def link(relation: str, page: str | None) -> dict:
        extra = {"_page": page} if page else {}
        return {"relation": relation, "url": f"{h.base}/{path}?" + urlencode({**keep, **extra})}

    links = [link("self", args.get("_page")), link("first", None)]
    if more:
        last = entries[-1].stored
        links.append(link("next", _encode_page((last.last_updated, last.resource_type, last.id, last.version_id))))
    bundle_entries = []
    for e in entries:
        st = e.stored
        entry: dict = {"fullUrl": f"{h.base}/{st.resource_type}/{st.id}"}
        if not st.deleted:
            entry["resource"] = st.resource()
        url = st.resource_type if e.method == "POST" else f"{st.resource_type}/{st.id}"
        entry["request"] = {"method": e.method, "url": url}
        status = {"POST": "201 Created", "DELETE": "204 No Content"}.get(e.method, "200 OK")
        entry["response"] = {"status": status, "etag": st.etag, "lastModified": instant(st.last_updated)}
        bundle_entries.append(entry)
    return FhirResponse(200, {"resourceType": "Bundle", "type": "history", "link": links, "entry": bundle_entries})
