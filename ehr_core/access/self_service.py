"""Operations a person runs on their own record: hiding items from guardians (rule 6) and
banning clinician access (rule 18). Neither is FHIR data a client should edit directly, so
they are operations on the patient, recorded in ``access_hidden`` / ``access_ban``:

- ``POST Patient/[id]/$hide``   Parameters ``item`` = Reference(Encounter|DocumentReference|Composition)
- ``POST Patient/[id]/$unhide`` same parameter
- ``POST Patient/[id]/$ban``    Parameters ``practitioner`` = Reference(Practitioner) and/or
  ``organization`` = Reference(Organization) (neither: every clinician), optional ``document``
  = Reference(DocumentReference|Composition) (none: the whole record); returns ``ban`` = id
- ``POST Patient/[id]/$unban``  Parameters ``ban`` = the id
- ``GET  Patient/[id]/$bans``   the patient's active bans, as Parameters
"""
from __future__ import annotations

import uuid

from sqlalchemy import delete, insert, select, update

from ehr_core import errors
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access import schema as access_schema
from ehr_core.access.decision import Context, Decision
from ehr_core.access.rules import Denied
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.storage.records import now_micros

HIDEABLE = ("Encounter", "DocumentReference", "Composition")
DOCUMENTS = ("DocumentReference", "Composition")

__all__ = ["register", "POLICIES"]


def _params(req: FhirRequest) -> dict[str, object]:
    body = req.body
    if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
        raise errors.bad_request("This operation takes a Parameters resource")
    out: dict[str, object] = {}
    for p in body.get("parameter") or []:
        name = p.get("name")
        value = p.get("valueReference", {}).get("reference") if "valueReference" in p else \
            p.get("valueString", p.get("valueId"))
        if name:
            out[name] = value
    return out


def _ref(value: object, types: tuple[str, ...], name: str) -> tuple[str, str]:
    if not isinstance(value, str) or value.count("/") != 1 or value.split("/")[0] not in types:
        raise errors.bad_request(f"{name} must be a reference to {' or '.join(types)}")
    rt, id = value.split("/")
    return rt, id


def _parameters(**values: str) -> dict:
    return {"resourceType": "Parameters", "parameter": [{"name": k, "valueString": v} for k, v in values.items()]}


# --- operations (run after the guard allowed them) -------------------------------------------------

def hide(req: FhirRequest, s, h) -> FhirResponse:  # noqa: ANN001
    pid = req.path_id  # type: ignore[attr-defined]
    rt, id = _ref(_params(req).get("item"), HIDEABLE, "item")
    if pid not in pt.patients_of(s.conn, rt, id):
        raise errors.bad_request(f"{rt}/{id} is not in the patient's record")
    t = access_schema.hidden
    s.conn.execute(delete(t).where(t.c.patient_id == pid, t.c.resource_type == rt, t.c.resource_id == id))
    s.conn.execute(insert(t).values(patient_id=pid, resource_type=rt, resource_id=id, created=now_micros()))
    return FhirResponse(200, _parameters(hidden=f"{rt}/{id}"))


def unhide(req: FhirRequest, s, h) -> FhirResponse:  # noqa: ANN001
    pid = req.path_id  # type: ignore[attr-defined]
    rt, id = _ref(_params(req).get("item"), HIDEABLE, "item")
    t = access_schema.hidden
    s.conn.execute(delete(t).where(t.c.patient_id == pid, t.c.resource_type == rt, t.c.resource_id == id))
    return FhirResponse(200, _parameters(unhidden=f"{rt}/{id}"))


def ban(req: FhirRequest, s, h) -> FhirResponse:  # noqa: ANN001
    pid = req.path_id  # type: ignore[attr-defined]
    params = _params(req)
    practitioner = _ref(params["practitioner"], ("Practitioner",), "practitioner")[1] if params.get("practitioner") else None
    organization = _ref(params["organization"], ("Organization",), "organization")[1] if params.get("organization") else None
    doc = _ref(params["document"], DOCUMENTS, "document") if params.get("document") else (None, None)
    if doc[0] and pid not in pt.patients_of(s.conn, doc[0], doc[1]):
        raise errors.bad_request(f"{doc[0]}/{doc[1]} is not in the patient's record")
    ban_id = uuid.uuid4().hex
    s.conn.execute(insert(access_schema.ban).values(
        id=ban_id, patient_id=pid, practitioner_id=practitioner, organization_id=organization,
        resource_type=doc[0], resource_id=doc[1], created=now_micros(), active=True))
    return FhirResponse(201, _parameters(ban=ban_id))


def unban(req: FhirRequest, s, h) -> FhirResponse:  # noqa: ANN001
    pid = req.path_id  # type: ignore[attr-defined]
    ban_id = _params(req).get("ban")
    t = access_schema.ban
    done = s.conn.execute(update(t).where(t.c.id == ban_id, t.c.patient_id == pid).values(active=False)).rowcount
    if not done:
        raise errors.not_found(f"Ban {ban_id!r} is not known")
    return FhirResponse(200, _parameters(unbanned=str(ban_id)))


def bans(req: FhirRequest, s, h) -> FhirResponse:  # noqa: ANN001
    pid = req.path_id  # type: ignore[attr-defined]
    t = access_schema.ban
    rows = s.conn.execute(select(t).where(t.c.patient_id == pid, t.c.active.is_(True)).order_by(t.c.created)).all()
    parts = []
    for r in rows:
        part = [{"name": "id", "valueString": r.id}]
        if r.practitioner_id:
            part.append({"name": "practitioner", "valueReference": {"reference": f"Practitioner/{r.practitioner_id}"}})
        if r.organization_id:
            part.append({"name": "organization", "valueReference": {"reference": f"Organization/{r.organization_id}"}})
        if r.resource_id:
            part.append({"name": "document", "valueReference": {"reference": f"{r.resource_type}/{r.resource_id}"}})
        parts.append({"name": "ban", "part": part})
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": parts})


def register(handler) -> None:  # noqa: ANN001
    """The access operations: these, and the break-glass review list (``breakglass_review``)."""
    from ehr_core.access import breakglass_review
    breakglass_review.register(handler)
    for name, op in (("$hide", hide), ("$unhide", unhide), ("$ban", ban), ("$unban", unban), ("$bans", bans)):
        handler.operations[("Patient", name, True)] = op


# --- guard policies -------------------------------------------------------------------------------

def _own_or_deny(ctx: Context, rule_for_others: str) -> str:
    pid = ctx.it.id
    assert pid is not None
    p = ctx.principal
    if p.is_person and pid in ctx.ents.own_patients:
        return pid
    if p.is_person and any(g.relation == "proxy" and g.acting_for == pid for g in ctx.ents.grants):
        raise Denied(R.deny(R.PROXY_NO_DELEGATION, "a proxy cannot hide items or set bans"), (pid,))
    raise Denied(R.deny(rule_for_others, "only the patient themself does this"), (pid,))


def hide_policy(ctx: Context) -> Decision:
    pid = _own_or_deny(ctx, R.HIDDEN_BY_MINOR)
    born = pt.birth_dates(ctx.s.conn, (pid,)).get(pid)
    years = pt.age(born, pt.today_riga()) if born else None
    if years is None or not 14 <= years < 18:
        raise Denied(R.deny(R.HIDDEN_BY_MINOR, "hiding from guardians is for minors aged 14 to 17"), (pid,))
    return Decision(R.allow(R.HIDDEN_BY_MINOR, "a minor hides an item from guardians"), patients=(pid,),
                    entities=[f"Patient/{pid}"])


def ban_policy(ctx: Context) -> Decision:
    pid = _own_or_deny(ctx, R.BAN)
    return Decision(R.allow(R.BAN, "the patient's ban on clinician access"), patients=(pid,),
                    entities=[f"Patient/{pid}"])


POLICIES = {("Patient", "$hide"): hide_policy, ("Patient", "$unhide"): hide_policy,
            ("Patient", "$ban"): ban_policy, ("Patient", "$unban"): ban_policy, ("Patient", "$bans"): ban_policy}
