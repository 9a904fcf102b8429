"""Authentication, the access guard and audit for the imaging routes — the same as for /fhir.

- Who: ``principal_from`` checks the bearer token exactly like the FHIR edge
  (``ehr_core.auth.api.principal_from``); without a valid one every route answers 401 with
  ``WWW-Authenticate`` and an OperationOutcome.
- STOW (``may_store``): only a hospital's system (SMART Backend Services client, role
  ``hospital``); its organisation is recorded as the study's submitter (``submitter``, in the
  index transaction) and
  as the origin of the study's ImagingStudy, so rule 21 lets it read what it submitted.
- WADO and study-scoped QIDO (``authorise_study``): a guarded FHIR read of the study's
  ImagingStudy through ``Handler.handle`` — the guard decides and writes the AuditEvent. A
  refusal answers 404, as does an unknown study: whether a study exists does not leak.
- QIDO across studies (``narrowed_search``): the guard's search decision for ``ImagingStudy``
  (``Guard.run``, which also records the BALP query audit per patient) narrows the index
  query in SQL: ``EXISTS (the study's ImagingStudy, live and one the principal may search)``.
- Unlinked studies (no Patient on the card yet, i.e. awaiting reconciliation) have no
  ImagingStudy to decide on: only administrators see them, and the system of the organisation
  that submitted them.
- Administration (``/dicomweb-admin``, ``is_admin``): a registry officer (a practitioner with an
  active ``registry-officer`` PractitionerRole, the people who already activate future
  authorisations) or the population register's system (client role ``register``). Matching a
  study to a person is register work; neither sees linked studies' images unless the guard
  lets them read the ImagingStudy.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, Connection, and_, exists, false, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from ehr_core import errors
from ehr_core.auth.principal import Principal
from ehr_core.rest.messages import FhirRequest, FhirResponse
from imaging.errors import ImagingError
from imaging.schema import imaging_study

__all__ = ["AccessRefused", "not_found", "principal_from", "is_admin", "require_admin", "may_store", "require_store",
           "authorise_study", "narrowed_search", "submitter", "record_origins", "record_origin"]

HOSPITAL, REGISTER = "hospital", "register"


class AccessRefused(ImagingError):
    """An answer decided by authentication or the guard: status, OperationOutcome, headers."""

    def __init__(self, status: int, outcome: dict, headers: dict[str, str] | None = None):
        issues = outcome.get("issue") or [{}]
        super().__init__(issues[0].get("diagnostics", f"HTTP {status}"))
        self.status = status
        self.outcome = outcome
        self.headers = dict(headers or {})

    @classmethod
    def of(cls, status: int, code: str, text: str, headers: dict[str, str] | None = None) -> AccessRefused:
        exc = errors.FhirError(status, [errors.Issue("error", code, text)], headers or {})
        return cls(exc.status, exc.outcome, dict(exc.headers))


def not_found(study_uid: str) -> AccessRefused:
    """The one answer for a study that is unknown or that the caller may not see."""
    return AccessRefused.of(404, "not-found", f"study {study_uid} is not known")


# --- who ------------------------------------------------------------------------------------------
def principal_from(service, request) -> Principal:  # noqa: ANN001
    """The verified principal of the request, or 401 with WWW-Authenticate (as /fhir)."""
    from ehr_core.auth.api import principal_from as verify, www_authenticate
    from ehr_core.auth.tokens import AuthError
    try:
        return verify(service, request)
    except AuthError as err:
        raise AccessRefused.of(401, "login", f"Unauthorized: {err.description}",
                               {"WWW-Authenticate": www_authenticate(err)}) from None


def is_admin(service, p: Principal) -> bool:  # noqa: ANN001
    if p.is_system:
        return p.role == REGISTER and bool(p.organization_id)
    if p.is_practitioner and p.practitioner_id:
        from ehr_core.access.clinician import roles_of
        from ehr_core.access.patients import today_riga
        with service.engine.connect() as conn:
            return roles_of(conn, p.practitioner_id, today_riga()).registry_officer
    return False


def require_admin(service, p: Principal) -> None:  # noqa: ANN001
    if not is_admin(service, p):
        raise AccessRefused.of(403, "forbidden", "imaging administration is for registry officers and the "
                                                 "population register's system")


def may_store(p: Principal) -> bool:
    return p.is_system and p.role == HOSPITAL and bool(p.organization_id)


def require_store(p: Principal) -> None:
    if not may_store(p):
        raise AccessRefused.of(403, "forbidden", "studies are stored by a hospital's system (SMART Backend "
                                                 "Services client) on behalf of its organisation")


def _sees_unlinked(service, p: Principal, study) -> bool:  # noqa: ANN001 - an imaging_study row
    if p.is_system and p.organization_id and study.submitted_by == p.organization_id:
        return True
    return is_admin(service, p)


# --- one study --------------------------------------------------------------------------------------
def authorise_study(service, p: Principal, study) -> None:  # noqa: ANN001 - an imaging_study row
    """Allow, or 404. A linked study is decided (and audited) by a guarded read of its ImagingStudy."""
    if study.fhir_study is None or study.fhir_patient is None:
        if not _sees_unlinked(service, p, study):
            raise not_found(study.study_uid)
        return
    resp = service.handler.handle(FhirRequest("GET", f"ImagingStudy/{study.fhir_study}", [], {}, None,
                                              principal=p))
    if resp.status == 200:
        return
    if resp.status in (403, 404, 410):
        # The guard has recorded the refusal; the answer must not say whether the study exists.
        raise not_found(study.study_uid)
    body = resp.body if isinstance(resp.body, dict) else {"resourceType": "OperationOutcome", "issue": []}
    raise AccessRefused(resp.status, body, dict(resp.headers))


# --- searches across studies -------------------------------------------------------------------------
@dataclass
class _Outcome:
    value: object = None
    studies: list[str] = field(default_factory=list)


def narrowed_search(service, p: Principal, run: Callable[[Connection, ColumnElement[bool]], tuple[object, list[str]]]):  # noqa: ANN001, ANN201
    """Run ``run(conn, where)`` under the guard's search decision for ImagingStudy.

    ``where`` is a clause on ``imaging_study`` (the narrowing, in SQL); ``run`` returns its result
    and the ImagingStudy ids it disclosed, which the guard's audit records per patient."""
    from ehr_core.search.sql import live
    from ehr_core.storage import schema
    admin = is_admin(service, p)
    out = _Outcome()

    def route(req: FhirRequest, s, linked: bool = True) -> FhirResponse:  # noqa: ANN001
        conds = []
        if linked and req.restrict is not None:
            # Correlated EXISTS on the ImagingStudy's key, not IN (all ImagingStudy ids allowed):
            # the database then checks only the studies the query finds, which kept QIDO by
            # patient flat as the index grew (IN listed every study the caller may see).
            r = schema.resource.alias("img_r")
            conds.append(exists(select(r.c.id).where(*live(r, ["ImagingStudy"]),
                                                     r.c.id == imaging_study.c.fhir_study, req.restrict(r))))
        unlinked = imaging_study.c.fhir_study.is_(None)
        if admin:
            conds.append(unlinked)
        elif p.is_system and p.organization_id:
            conds.append(and_(unlinked, imaging_study.c.submitted_by == p.organization_id))
        where = or_(*conds) if conds else false()
        out.value, studies = run(s.conn, where)
        out.studies = [sid for sid in dict.fromkeys(studies) if sid]
        return FhirResponse(200, {"resourceType": "Bundle", "type": "searchset",
                                  "entry": [{"resource": {"resourceType": "ImagingStudy", "id": sid}}
                                            for sid in out.studies]})

    guard = service.handler.guard
    req = FhirRequest("GET", "ImagingStudy", [], {}, None, principal=p)
    with service.repo.session() as s:
        try:
            guard.run(req, s, route)
        except errors.FhirError as exc:
            if exc.status != 403 or not (admin or (p.is_system and p.organization_id)):
                raise AccessRefused(exc.status, exc.outcome, dict(exc.headers)) from None
            # The guard lets this caller search no ImagingStudy (e.g. the register's scopes):
            # what is left are the unlinked studies it may see, which concern no Patient.
            route(req, s, linked=False)
    return out.value


# --- who submitted ------------------------------------------------------------------------------------
def _insert_ignore(conn: Connection, table, values: dict, keys: list[str]) -> None:  # noqa: ANN001
    ins = (postgresql.insert(table) if conn.dialect.name == "postgresql" else sqlite.insert(table)).values(**values)
    conn.execute(ins.on_conflict_do_nothing(index_elements=keys))


def record_origin(conn: Connection, fhir_study: str, organization_id: str, client_id: str | None = None) -> None:
    """The ImagingStudy was submitted by this organisation (rule 21; ``access_resource_origin``)."""
    from ehr_core.access import schema as access_schema
    _insert_ignore(conn, access_schema.resource_origin,
                   {"resource_type": "ImagingStudy", "resource_id": fhir_study,
                    "organization_id": organization_id, "client_id": client_id}, ["resource_type", "resource_id"])


def submitter(p: Principal):  # noqa: ANN201 - ingest.Submitter
    """A STOW caller as the submitter of what it stores (its organisation, through its client)."""
    from imaging.ingest import Submitter
    return Submitter(f"STOW-RS client {p.client_id} of Organization/{p.organization_id}", p.organization_id,
                     p.client_id)


def record_origins(conn: Connection, study_uids, organization_id: str, client_id: str | None) -> None:  # noqa: ANN001
    """Inside the index transaction: the studies this organisation submitted that already have an
    ImagingStudy get it recorded as their origin (linking records it for the others)."""
    uids = sorted(set(study_uids))
    if not uids:
        return
    t = imaging_study
    for row in conn.execute(select(t.c.fhir_study).where(t.c.study_uid.in_(uids), t.c.fhir_study.is_not(None),
                                                        t.c.submitted_by == organization_id)):
        record_origin(conn, row.fhir_study, organization_id, client_id)
