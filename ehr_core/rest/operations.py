"""Core FHIR operations, registered into the handler's operation table."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ehr_core import errors
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.search.normalize import DateFormatError, date_range
from ehr_core.storage.repository import Session

if TYPE_CHECKING:
    from ehr_core.rest.handler import Handler


def patient_everything(req: FhirRequest, s: Session, h: Handler) -> FhirResponse:
    """Patient/[id]/$everything (patient-operation-everything.html), with _since and paging."""
    from ehr_core.search.everything import everything
    id = req.path_id  # type: ignore[attr-defined]
    s.read("Patient", id)
    args = dict(req.query)
    since = None
    if "_since" in args:
        try:
            since = date_range(args["_since"])[0]
        except DateFormatError:
            raise errors.bad_request(f"_since={args['_since']!r} is not a FHIR instant") from None
    count = args.get("_count")
    if count is not None and not count.isdigit():
        raise errors.bad_request(f"_count={count!r} is not a non-negative integer")
    # Access narrowing (set by the guard) goes into the query; without it nothing is narrowed.
    narrowing = {"restrict": req.restrict} if req.restrict is not None else {}
    bundle = everything(s.conn, id, since=since, count=int(count) if count else None,
                        cursor=args.get("_cursor"), base_url=h.base, **narrowing)
    return FhirResponse(200, bundle)


patient_everything.definition = "http://hl7.org/fhir/OperationDefinition/Patient-everything"  # type: ignore[attr-defined]


def register_core_operations(h: Handler) -> None:
    h.operations[("Patient", "$everything", True)] = patient_everything
