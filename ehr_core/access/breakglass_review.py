"""Rule 17's review list: every break-glass use, for the supervisors who must look at it.

- ``GET  [base]/$break-glass-review`` [``status`` = open | reviewed, ``patient``, ``_count``]
  → Parameters, one ``use`` per break-glass token issued, newest first: who (Practitioner),
  for which organisation, which patient, the stated reason, when issued, when it expires,
  whether reviewed, and every AuditEvent the use produced (``event``).
- ``POST [base]/$break-glass-review`` with Parameters ``use`` = the id → marks it reviewed.

Who: a practitioner with a PractitionerRole coded
``https://evk.lv/fhir/CodeSystem/practitioner-role#break-glass-reviewer`` sees the uses by
clinicians of that role's organisation (the clinician's organisation answers for them).
The list discloses patients' names in an emergency context, so it passes the guard like any
other operation and leaves one AuditEvent per patient listed, in the patient's audit view.
"""
from __future__ import annotations

from sqlalchemy import Connection, and_, desc, select, update

from ehr_core import errors
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access import schema as access_schema
from ehr_core.access.clinician import roles_of
from ehr_core.access.decision import Context, Decision
from ehr_core.access.grants import READ, Grant
from ehr_core.access.rules import Denied
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.storage import schema
from ehr_core.storage.records import instant

OPERATION = "$break-glass-review"
DCM_SECURITY_ALERT = "110113"
DEFAULT_COUNT = 100

__all__ = ["register", "POLICIES"]


def _orgs(s, principal) -> tuple[str, ...] | None:  # noqa: ANN001
    """Organisations whose uses the caller reviews; None = every one (the trusted core)."""
    if principal is None:
        return None
    if not principal.is_practitioner or not principal.practitioner_id:
        return ()
    return roles_of(s.conn, principal.practitioner_id, pt.today_riga()).review_orgs


def _uses(conn: Connection, orgs: tuple[str, ...] | None, query: list[tuple[str, str]]) -> list:
    t = access_schema.break_glass
    args = dict(query)
    cond = [t.c.organization_id.in_(orgs)] if orgs is not None else []
    status = args.get("status")
    if status not in (None, "open", "reviewed"):
        raise errors.bad_request("status must be open or reviewed")
    if status:
        cond.append(t.c.reviewed.is_(status == "reviewed"))
    if args.get("patient"):
        cond.append(t.c.patient_id == args["patient"].removeprefix("Patient/"))
    count = args.get("_count", str(DEFAULT_COUNT))
    if not count.isdigit():
        raise errors.bad_request(f"_count={count!r} is not a non-negative integer")
    return list(conn.execute(select(t).where(and_(*cond)).order_by(desc(t.c.issued)).limit(int(count))).all())


def _events(conn: Connection, use) -> list[str]:  # noqa: ANN001
    """AuditEvents coded emergency override, by this clinician, about this patient, while the
    token was valid: the issuing and every access made with it."""
    tok, day = schema.sp_token.alias(), schema.sp_date.alias()
    agent, patient = schema.sp_reference.alias(), schema.sp_reference.alias()

    def has_ref(a, param: str, rt: str, id: str):  # noqa: ANN001, ANN202
        return select(a.c.resource_id).where(a.c.resource_type == "AuditEvent", a.c.param == param,
                                             a.c.target_type == rt, a.c.target_id == id)
    recorded = select(day.c.resource_id).where(day.c.resource_type == "AuditEvent", day.c.param == "date",
                                               day.c.low >= use.issued / 1e6 - 1, day.c.low <= use.expires / 1e6)
    ids = select(tok.c.resource_id).distinct().where(
        tok.c.resource_type == "AuditEvent", tok.c.param == "type", tok.c.code == DCM_SECURITY_ALERT,
        tok.c.resource_id.in_(has_ref(agent, "agent", "Practitioner", use.practitioner_id)),
        tok.c.resource_id.in_(has_ref(patient, "patient", "Patient", use.patient_id)),
        tok.c.resource_id.in_(recorded))
    return sorted(f"AuditEvent/{r[0]}" for r in conn.execute(ids).all())


def _use(conn: Connection, use) -> dict:  # noqa: ANN001
    part = [{"name": "id", "valueString": use.id},
            {"name": "practitioner", "valueReference": {"reference": f"Practitioner/{use.practitioner_id}"}},
            {"name": "patient", "valueReference": {"reference": f"Patient/{use.patient_id}"}},
            {"name": "reason", "valueString": use.reason},
            {"name": "issued", "valueInstant": instant(use.issued)},
            {"name": "expires", "valueInstant": instant(use.expires)},
            {"name": "reviewed", "valueBoolean": bool(use.reviewed)}]
    if use.organization_id:
        part.insert(2, {"name": "organization", "valueReference": {"reference": f"Organization/{use.organization_id}"}})
    part += [{"name": "event", "valueReference": {"reference": ref}} for ref in _events(conn, use)]
    return {"name": "use", "part": part}


def _marked(req: FhirRequest) -> str:
    body = req.body
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise errors.bad_request(f"POST {OPERATION} takes Parameters with use = the id of a break-glass use")
    for p in body.get("parameter") or []:
        if p.get("name") == "use" and isinstance(p.get("valueString") or p.get("valueId"), str):
            return p.get("valueString") or p.get("valueId")
    raise errors.bad_request("Parameters need use = the id of a break-glass use")


# --- the operation (runs after the guard allowed it) ---------------------------------------------

def review(req: FhirRequest, s, h) -> FhirResponse:  # noqa: ANN001
    orgs = _orgs(s, req.principal)
    if req.method == "POST":
        t = access_schema.break_glass
        use_id = _marked(req)
        cond = [t.c.id == use_id] + ([t.c.organization_id.in_(orgs)] if orgs is not None else [])
        if not s.conn.execute(update(t).where(*cond).values(reviewed=True)).rowcount:
            raise errors.not_found(f"Break-glass use {use_id!r} is not known")
        uses = s.conn.execute(select(t).where(t.c.id == use_id)).all()
    else:
        uses = _uses(s.conn, orgs, req.query)
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": [_use(s.conn, u) for u in uses]})


def register(handler) -> None:  # noqa: ANN001
    handler.operations[(None, OPERATION, False)] = review


# --- the guard's policy ------------------------------------------------------------------------

def review_policy(ctx: Context) -> Decision:
    orgs = _orgs(ctx.s, ctx.principal)
    if not orgs:
        raise Denied(R.deny(R.BREAK_GLASS, "the break-glass review list is for the break-glass reviewers "
                            "of the clinicians' organisation"))
    if ctx.req.method == "POST":
        t = access_schema.break_glass
        found = ctx.s.conn.execute(select(t.c.patient_id).where(t.c.id == _marked(ctx.req),
                                                                t.c.organization_id.in_(orgs))).all()
    else:
        found = _uses(ctx.s.conn, orgs, ctx.req.query)
    patients = tuple(sorted({r.patient_id for r in found}))
    # The reviewer's reach is exactly the patients listed: the audit names them with this grant.
    grant = Grant(R.BREAK_GLASS, "break-glass-reviewer", patients, frozenset({READ}), (), "HSYSADMIN")
    query = ctx.req.path + ("?" + "&".join(f"{k}={v}" for k, v in ctx.req.query) if ctx.req.query else "")
    return Decision(R.allow(R.BREAK_GLASS, "the break-glass review list"), grant, patients, query=query)


POLICIES = {(None, OPERATION): review_policy}
