"""Decisions for create, update, patch and delete.

Who writes what:
- a person: their own grants, contact persons and declarations (Consent, RelatedPerson) — never
  for someone they act for (rule 13), never a register link (rule 3); grants by adults only,
  12 months by default and 5 years at most (rules 9, 11); a future authorisation is stored
  dormant (rule 15); declarations by adults (rule 20);
- a clinician: for patients they treat (rule 16) or under break-glass (rule 17), not against a
  ban (rule 18); a new Encounter/EpisodeOfCare at their own organisation starts a treating
  relationship; a pharmacist writes dispensations only (rule 19); a registry officer
  activates or ends future authorisations on recorded evidence (rule 15);
- a system: on behalf of its organisation, for any patient; it changes only what its
  organisation submitted (rule 21); only the register writes custody/guardianship links.
Nobody changes or deletes an AuditEvent (rule 23). Writes by practitioners and systems are
attributed to their organisation: ``meta.source`` and ``access_resource_origin``.
"""
from __future__ import annotations

import jsonpatch
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from ehr_core import errors
from ehr_core.access import clinician, labels, mailbox, proxy, scoping
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access import schema as access_schema
from ehr_core.access.client import PHARMACY, REGISTER
from ehr_core.access.decision import Context, Decision
from ehr_core.access.guardian import is_guardian_link
from ehr_core.access.rules import Denied, Verdict
from ehr_core.rest.messages import FhirResponse
from ehr_core.storage.records import StoredResource

PERSON_WRITABLE = frozenset({"Consent", "RelatedPerson"})
REGISTER_WRITABLE = frozenset({"Patient", "RelatedPerson", "Organization"})
PHARMACY_WRITABLE = frozenset({"MedicationDispense"})
RELATIONSHIP_STARTERS = {"Encounter": "serviceProvider", "EpisodeOfCare": "managingOrganization"}
LETTERS = {"create": "c", "update": "u", "patch": "u", "delete": "d"}

__all__ = ["decide_write"]


def _existing(ctx: Context) -> StoredResource | None:
    it, s = ctx.it, ctx.s
    if it.conditional:
        from ehr_core.rest import conditional
        params = [(k, v) for k, v in ctx.req.query if not k.startswith("_format")]
        if not params:
            return None
        found = conditional.matches(s, it.resource_type, params, lock=True)
        return found[0] if len(found) == 1 else None
    if it.id is None:
        return None
    found = s.current(it.resource_type, it.id)
    return None if found is None or found.deleted else found


def _new_body(ctx: Context, existing: StoredResource | None) -> dict | None:
    it, body = ctx.it, ctx.req.body
    if it.kind in ("create", "update"):
        return body if isinstance(body, dict) else None
    if it.kind == "patch" and existing is not None and isinstance(body, list):
        try:
            return jsonpatch.apply_patch(existing.resource(), body)
        except Exception:   # noqa: BLE001 - the handler reports the broken patch
            return None
    return None


def decide_write(ctx: Context) -> Decision:
    it, p, s = ctx.it, ctx.principal, ctx.s
    rt = it.resource_type
    assert rt is not None
    if rt == "AuditEvent" and it.kind != "create":
        raise Denied(R.deny(R.AUDIT_APPEND_ONLY, "AuditEvents are append-only", 405))
    existing = _existing(ctx)
    new = _new_body(ctx, existing)
    # An update that brings a deleted id back: its origin row may still be there.
    reused_id = it.kind == "update" and existing is None and it.id is not None and s.current(rt, it.id) is not None
    new_patients: tuple[str, ...] = ()
    if new is not None and new.get("resourceType") == rt:
        new_patients = pt.patients_in_resource(ctx.guard.indexer, new)
    old_patients = pt.patients_of(s.conn, rt, existing.id) if existing else ()
    patients = tuple(sorted(set(new_patients) | set(old_patients)))
    refused = scoping.check(p, rt, LETTERS[it.kind])
    if refused is not None:
        raise Denied(refused, patients)
    old = existing.resource() if existing else None
    if p.is_person:
        verdict = _person(ctx, rt, new, old, patients)
    elif p.is_practitioner:
        verdict = _practitioner(ctx, rt, new, old, patients, existing)
    elif p.is_system:
        verdict = _system(ctx, rt, new, old, patients, existing)
    else:
        verdict = R.deny(R.AUTHENTICATED, "sign in first")
    if not verdict.allowed:
        raise Denied(verdict, patients)
    if p.is_person and new is not None and proxy.is_grant(new) and new.get("status") in ("active", "proposed", "draft"):
        proxy.normalise_period(new, pt.today_riga())
        problem = proxy.period_error(new)
        if problem:
            raise errors.FhirError(422, [errors.Issue("error", "business-rule", problem,
                                                      ("Consent.provision.period",), rule=f"access-{R.PROXY_PERIOD}")])
    organization = _acting_organization(ctx)
    if organization and new is not None and it.kind in ("create", "update"):
        meta = new.setdefault("meta", {})
        meta["source"] = f"{ctx.guard.settings.fhir_base}/Organization/{organization}"
    grant = next((g for g in ctx.ents.grants if g.rule == verdict.rule), None)
    ref = f"{rt}/{existing.id}" if existing else (f"{rt}/{it.id}" if it.id else rt)

    decision = Decision(verdict, grant, patients, [ref])

    def after(resp: FhirResponse) -> FhirResponse:
        written = _written_ref(resp, existing, rt, it.id)
        if written and rt == "Patient" and not decision.patients:
            decision.patients = (written[1],)           # a new Patient: known once it has its id
        if written:
            decision.entities = ["/".join(written)]
        if written and organization and resp.status == 201:
            _record_origin(s, written, organization, p.client_id, reused_id=reused_id)
        if old is not None and proxy.is_grant(old) and old.get("status") == "active" and \
                (it.kind == "delete" or (new is not None and new.get("status") in ("inactive", "rejected", "entered-in-error"))):
            mailbox.grant_revoked(s, old)                           # rule 12
        if new is not None and it.kind in ("create", "update") and resp.status in (200, 201):
            mailbox.sensitive_result(s, new, new_patients, "/".join(written) if written else None)  # rule 8
        if it.kind == "create" and resp.status == 200 and written and not _readable(ctx, *written):
            # A conditional create matched someone else's resource: say so, show nothing of it.
            resp.body = None
        return resp
    decision.after = after
    return decision


def _readable(ctx: Context, rt: str, id: str) -> bool:
    from ehr_core.access.evaluate import evaluate
    from ehr_core.access.grants import READ
    grant, _, _, _ = evaluate(ctx.s.conn, rt, id, ctx.ents.with_action(READ), scoping.clause(ctx.principal, "r"))
    return grant is not None


def _written_ref(resp: FhirResponse, existing: StoredResource | None, rt: str, id: str | None) -> tuple[str, str] | None:
    location = resp.headers.get("Location", "")
    if "/_history/" in location:
        parts = location.split("/_history/")[0].rstrip("/").split("/")
        return parts[-2], parts[-1]
    if existing is not None:
        return existing.resource_type, existing.id
    return (rt, id) if id else None


def _acting_organization(ctx: Context) -> str | None:
    p = ctx.principal
    if p.is_system:
        return p.organization_id
    if p.is_practitioner and ctx.ents.organizations:
        return ctx.ents.organizations[0]
    return None


def _record_origin(s, key: tuple[str, str], organization: str, client_id: str | None,  # noqa: ANN001
                   *, reused_id: bool) -> None:
    """Who submitted a new resource (rule 21). Queued with the resource's own rows, so a
    transaction Bundle still writes in one batch per table."""
    t = access_schema.resource_origin
    values = {"resource_type": key[0], "resource_id": key[1], "organization_id": organization, "client_id": client_id}
    if not reused_id:
        s.insert_later(t.name, values)
        return
    s.flush()
    dialect = s.conn.dialect.name
    ins = (postgresql.insert(t) if dialect == "postgresql" else sqlite.insert(t)).values(**values)
    s.conn.execute(ins.on_conflict_do_nothing(index_elements=["resource_type", "resource_id"]))


def _covered_by(ctx: Context, patients: tuple[str, ...], relation: str) -> bool:
    return any(g.relation == relation and isinstance(g.patients, tuple) and set(g.patients) & set(patients)
               for g in ctx.ents.grants)


# --- people ---------------------------------------------------------------------------------------

def _person(ctx: Context, rt: str, new: dict | None, old: dict | None, patients: tuple[str, ...]) -> Verdict:
    own = set(ctx.ents.own_patients)
    either = [x for x in (new, old) if x is not None]
    if not patients or not set(patients) <= own:
        if _covered_by(ctx, patients, "proxy"):
            return R.deny(R.PROXY_NO_DELEGATION, "a proxy cannot create, change or delegate grants, bans, "
                          "contact persons or declarations, nor write for the grantor")
        if _covered_by(ctx, patients, "guardian"):
            if any(labels.is_declaration(x) for x in either):
                return R.deny(R.GUARDIAN_DECLARATIONS, "guardians never change a ward's declarations")
            return R.deny(R.GUARDIAN, "guardians read the ward's record; they do not write it")
        return R.deny(R.SELF, "a person writes in their own record only")
    if rt not in PERSON_WRITABLE:
        return R.deny(R.DENY_BY_DEFAULT, "a person writes grants, contact persons and declarations only")
    if any(is_guardian_link(x) for x in either):
        return R.deny(R.GUARDIAN, "custody and guardianship links come from the population register")
    adult = _adult(ctx, patients)
    if any(labels.is_declaration(x) for x in either):
        return R.allow(R.DECLARATIONS, "own declaration") if adult else \
            R.deny(R.DECLARATIONS, "declarations are made by adults")
    if any(proxy.is_grant(x) for x in either):
        if not adult:
            return R.deny(R.PROXY_GRANT, "only an adult grants access")
        if new is not None and proxy.is_future_authorisation(new) and new.get("status") == "active" and \
                not (old is not None and old.get("status") == "active"):
            return R.deny(R.FUTURE_AUTHORISATION, "a future authorisation is activated by a registry officer "
                          "on recorded evidence")
        return R.allow(R.PROXY_GRANT, "the grantor's own grant")
    return R.allow(R.SELF, "own record")


def _adult(ctx: Context, patients: tuple[str, ...]) -> bool:
    born = pt.birth_dates(ctx.s.conn, patients)
    today = pt.today_riga()
    return bool(born) and all(b is not None and pt.age(b, today) >= 18 for b in born.values())


def _practitioner(ctx: Context, rt: str, new: dict | None, old: dict | None, patients: tuple[str, ...],
                  existing: StoredResource | None) -> Verdict:
    p, ents = ctx.principal, ctx.ents
    roles = ents.roles
    either = [x for x in (new, old) if x is not None]
    if roles is None or not roles.role_ids:
        return R.deny(R.TREATING, "no active PractitionerRole")
    if rt == "Consent" and roles.registry_officer and old is not None and proxy.is_future_authorisation(old):
        return _activation(new, old)
    if rt == "AuditEvent":
        return R.deny(R.AUDIT_APPEND_ONLY, "AuditEvents are written by the server and by systems")
    if any(proxy.is_grant(x) or labels.is_declaration(x) for x in either):
        return R.deny(R.PROXY_NO_DELEGATION, "grants and declarations are the person's own to write")
    if any(is_guardian_link(x) for x in either):
        return R.deny(R.GUARDIAN, "custody and guardianship links come from the population register")
    if rt in PHARMACY_WRITABLE and roles.pharmacy_orgs:
        return R.allow(R.PHARMACIST, "dispensation")
    if not roles.clinical_orgs:
        return R.deny(R.PHARMACIST, "pharmacists write dispensations only")
    if not patients:
        return R.deny(R.DENY_BY_DEFAULT, "clinicians write patient data only")
    bg = p.break_glass
    conn, window = ctx.s.conn, ctx.guard.settings.treating_days
    for pid in patients:
        if bg is not None and bg.patient_id == pid:
            continue
        if clinician.whole_record_banned(conn, p.practitioner_id, roles.organizations, pid):
            return R.deny(R.BAN, "the patient has banned this access")
        if not clinician.has_treating_relationship(conn, p.practitioner_id, roles, pid, window) and \
                not _starts_relationship(rt, new, roles.clinical_orgs):
            return R.deny(R.TREATING, f"no treating relationship with the patient in the last {window} days")
    if existing is not None and not (bg is not None and set(patients) <= {bg.patient_id}) and \
            _document_banned(ctx, existing.resource_type, existing.id):
        return R.deny(R.BAN, "the patient has banned this access to the document")
    if bg is not None and set(patients) <= {bg.patient_id}:
        return R.allow(R.BREAK_GLASS, "emergency override")
    return R.allow(R.TREATING, "treating relationship")


def _starts_relationship(rt: str, new: dict | None, orgs: tuple[str, ...]) -> bool:
    field = RELATIONSHIP_STARTERS.get(rt)
    if field is None or new is None:
        return False
    ref = (new.get(field) or {}).get("reference", "")
    return ref.startswith("Organization/") and ref.split("/", 1)[1] in orgs


def _document_banned(ctx: Context, rt: str, id: str) -> bool:
    from ehr_core.access.limits import ban_applies
    b = access_schema.ban
    p, roles = ctx.principal, ctx.ents.roles
    return ctx.s.conn.execute(select(b.c.id).where(
        b.c.resource_type == rt, b.c.resource_id == id,
        ban_applies(b, p.practitioner_id, roles.organizations if roles else ())).limit(1)).first() is not None


def _activation(new: dict | None, old: dict) -> Verdict:
    """Rule 15: a registry officer activates a future authorisation on recorded evidence."""
    if new is None:
        return R.deny(R.FUTURE_AUTHORISATION, "a future authorisation is ended by setting it inactive")
    if (new.get("patient") or {}) != (old.get("patient") or {}) or not proxy.is_future_authorisation(new):
        return R.deny(R.FUTURE_AUTHORISATION, "only the status of a future authorisation may change")
    if new.get("status") == "active":
        evidence = [v for v in new.get("verification") or [] if v.get("verified") is True]
        if not evidence:
            return R.deny(R.FUTURE_AUTHORISATION, "activation needs recorded evidence (Consent.verification "
                          "with verified = true: doctors' commission opinion or court ruling)")
    return R.allow(R.FUTURE_AUTHORISATION, f"registry officer sets the future authorisation {new.get('status')}")


# --- systems --------------------------------------------------------------------------------------

def _system(ctx: Context, rt: str, new: dict | None, old: dict | None, patients: tuple[str, ...],
            existing: StoredResource | None) -> Verdict:
    p = ctx.principal
    either = [x for x in (new, old) if x is not None]
    if rt == "AuditEvent":
        return R.allow(R.AUDIT_EVERY_ACCESS, "a system appends its own audit records")
    if any(proxy.is_grant(x) or labels.is_declaration(x) for x in either):
        return R.deny(R.PROXY_GRANT, "grants and declarations are written by the person with their own sign-in")
    if any(is_guardian_link(x) for x in either) and p.role != REGISTER:
        return R.deny(R.GUARDIAN, "custody and guardianship links come from the population register")
    if p.role == REGISTER and rt not in REGISTER_WRITABLE:
        return R.deny(R.BACKEND_CLIENT, "the register writes persons, links and organisations")
    if p.role == PHARMACY and rt not in PHARMACY_WRITABLE:
        return R.deny(R.PHARMACIST, "a pharmacy writes dispensations")
    if existing is not None and not _origin_is(ctx, existing, p.organization_id):
        return R.deny(R.BACKEND_CLIENT, "a system changes only what its organisation submitted")
    return R.allow(R.BACKEND_CLIENT, "on behalf of its organisation")


def _origin_is(ctx: Context, existing: StoredResource, organization: str | None) -> bool:
    t = access_schema.resource_origin
    row = ctx.s.conn.execute(select(t.c.organization_id).where(
        t.c.resource_type == existing.resource_type, t.c.resource_id == existing.id)).first()
    return row is not None and row[0] == organization


