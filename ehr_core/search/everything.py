"""``Patient/[id]/$everything`` (https://hl7.org/fhir/R4/patient-operation-everything.html).

The patient, every resource in its Patient compartment but the access log, and the Practitioner, Organization,
Location and Medication resources those refer to, as one keyset-paged searchset. It is the
compartment search over all member types with ``supporting`` types added, so it shares the
matching, paging and access narrowing of every other search.
"""
from __future__ import annotations

from sqlalchemy import Connection

from ehr_core.search import cursor as cursors
from ehr_core.search.bundle import searchset_bundle
from ehr_core.search.engine import Restrict, SearchResult, execute_search
from ehr_core.search.filters import Filter
from ehr_core.search.query import DEFAULT_COUNT, MAX_COUNT, SearchRequest, compartment_types
from ehr_core.search.query_values import DateValue
from ehr_core.storage.records import instant

SUPPORTING = ("Location", "Medication", "Organization", "Practitioner")
# The access log is left out: it is the record of reading the record, not part of it (it is
# served by AuditEvent search), and each page read adds an AuditEvent about the patient, so with
# time-ordered ids a keyset walk over it would never reach its end.
NOT_RECORD = ("AuditEvent",)


def everything_request(patient_id: str, *, since: float | None = None, count: int | None = None,
                       cursor: str | None = None) -> SearchRequest:
    """``since`` in epoch seconds (``_since``: only resources changed at or after it)."""
    members = compartment_types("Patient")
    types = tuple(sorted((set(members) - set(NOT_RECORD)) | set(SUPPORTING)))
    req = SearchRequest("Patient", types, compartment=("Patient", patient_id), supporting=SUPPORTING,
                        count=min(count, MAX_COUNT) if count is not None else DEFAULT_COUNT,
                        path=f"Patient/{patient_id}/$everything")
    params: list[tuple[str, str]] = []
    if since is not None:
        req.filters = (Filter("_lastUpdated", "date", values=(DateValue("ge", since, since),)),)
        params.append(("_since", instant(int(since * 1_000_000))))
    if count is not None:
        params.append(("_count", str(req.count)))
    req.link_params = tuple(params)
    if cursor:
        req.cursor = cursors.decode(cursor, req.order_fingerprint)
    return req


def everything_result(conn: Connection, patient_id: str, *, since: float | None = None, count: int | None = None,
                      cursor: str | None = None, restrict: Restrict | None = None) -> SearchResult:
    return execute_search(conn, everything_request(patient_id, since=since, count=count, cursor=cursor),
                          restrict=restrict)


def everything(conn: Connection, patient_id: str, *, since: float | None = None, count: int | None = None,
               cursor: str | None = None, restrict: Restrict | None = None, base_url: str = "") -> dict:
    """One page of the patient's record as a searchset Bundle."""
    result = everything_result(conn, patient_id, since=since, count=count, cursor=cursor, restrict=restrict)
    return searchset_bundle(result, result.request, base_url=base_url)
