"""Rules 16-20 for people signed in as practitioners.

A clinician is a ``Practitioner`` with an active ``PractitionerRole`` at an ``Organization``.
They read a patient's record only with a treating relationship (rule 16): within the last
``window`` days (default 90) an Encounter whose service provider is one of their
organisations or in which they took part, an EpisodeOfCare managed by one of them, or a
referral (ServiceRequest) to them; or the patient has them (or their organisation) as
general practitioner. The relationship is a SQL sub-select, so searches narrow in the query.
Otherwise 403 — unless break-glass (rule 17). Bans (rule 18) are honoured except under
break-glass. A role coded pharmacist reads active e-prescriptions only (rule 19); a role at a
designated institution reads declarations (rule 20); a registry officer's role activates
future authorisations (rule 15).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, Select, not_, select, union

from ehr_core.access import limits
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access import schema as access_schema
from ehr_core.access.grants import READ, READ_ACTIONS, SEARCH, WRITE, Grant, Lapsed
from ehr_core.auth.principal import Principal
from ehr_core.storage import schema

ROLE_SYSTEM = "http://terminology.hl7.org/CodeSystem/practitioner-role"
SNOMED = "http://snomed.info/sct"
PHARMACIST_CODES = {(ROLE_SYSTEM, "pharmacist"), (SNOMED, "46255001")}
EVK_ROLE_SYSTEM = "https://evk.lv/fhir/CodeSystem/practitioner-role"
REGISTRY_OFFICER = (EVK_ROLE_SYSTEM, "registry-officer")
# A supervisory role, not a clinical one: reviews the break-glass uses of its organisation's
# clinicians (rule 17's review list, ``breakglass_review``).
BREAK_GLASS_REVIEWER = (EVK_ROLE_SYSTEM, "break-glass-reviewer")
# Organization.type codings that designate an institution for declarations (rule 20).
DESIGNATION_SYSTEM = "https://evk.lv/fhir/CodeSystem/institution-designation"
DESIGNATIONS = ("transplant-centre", "forensic-medicine-centre", "licensed-university")

__all__ = ["Roles", "roles_of", "clinician_grants", "treating_patients", "designated"]


@dataclass(frozen=True)
class Roles:
    role_ids: tuple[str, ...]
    clinical_orgs: tuple[str, ...]       # organisations where they act as a clinician
    pharmacy_orgs: tuple[str, ...]       # ... as a pharmacist
    registry_officer: bool
    review_orgs: tuple[str, ...] = ()    # organisations whose break-glass uses they review

    @property
    def organizations(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.clinical_orgs) | set(self.pharmacy_orgs)))


def _in_period(period: dict | None, today: date) -> bool:
    period = period or {}
    day = today.isoformat()
    return period.get("start", "")[:10] <= day and (not period.get("end") or period["end"][:10] >= day)


def roles_of(conn: Connection, practitioner_id: str, today: date) -> Roles:
    ref = schema.sp_reference
    ids = [r[0] for r in conn.execute(select(ref.c.resource_id).where(
        ref.c.resource_type == "PractitionerRole", ref.c.param == "practitioner",
        ref.c.target_type == "Practitioner", ref.c.target_id == practitioner_id)).all()]
    role_ids, clinical, pharmacy, review, officer = [], set(), set(), set(), False
    for rid, role in pt.read_current(conn, "PractitionerRole", set(ids)).items():
        if role.get("active") is False or not _in_period(role.get("period"), today):
            continue
        org = (role.get("organization") or {}).get("reference", "")
        org_id = org.split("/", 1)[1] if org.startswith("Organization/") else None
        codes = {(c.get("system"), c.get("code")) for cc in role.get("code") or [] for c in cc.get("coding") or []}
        role_ids.append(rid)
        if REGISTRY_OFFICER in codes:
            officer = True
        if org_id is None:
            continue
        if BREAK_GLASS_REVIEWER in codes:
            review.add(org_id)
            continue
        (pharmacy if codes & PHARMACIST_CODES else clinical).add(org_id)
    return Roles(tuple(sorted(role_ids)), tuple(sorted(clinical)), tuple(sorted(pharmacy)), officer,
                 tuple(sorted(review)))


def designated(conn: Connection, organization_ids: tuple[str, ...]) -> bool:
    for org in pt.read_current(conn, "Organization", organization_ids).values():
        for cc in org.get("type") or []:
            if any(c.get("system") == DESIGNATION_SYSTEM and c.get("code") in DESIGNATIONS
                   for c in cc.get("coding") or []):
                return True
    return False


def _refs(rt: str, params: tuple[str, ...], target_type: str, ids) -> Select:  # noqa: ANN001
    ref = schema.sp_reference.alias()
    return select(ref.c.resource_id).where(ref.c.resource_type == rt, ref.c.param.in_(params),
                                           ref.c.target_type == target_type, ref.c.target_id.in_(ids))


def _recent(rt: str, param: str, since: float) -> Select:
    d = schema.sp_date.alias()
    return select(d.c.resource_id).where(d.c.resource_type == rt, d.c.param == param, d.c.high >= since)


def _subjects(rt: str, params: tuple[str, ...], resource_ids: Select) -> Select:
    ref = schema.sp_reference.alias()
    return select(ref.c.target_id).where(ref.c.resource_type == rt, ref.c.param.in_(params),
                                         ref.c.target_type == "Patient", ref.c.resource_id.in_(resource_ids))


def treating_patients(practitioner_id: str, roles: Roles, window_days: int, now: float | None = None) -> Select:
    """Patient ids with a treating relationship to this clinician (rule 16), as one SELECT."""
    since = (now or time.time()) - window_days * 86400
    orgs, me, role_ids = list(roles.clinical_orgs), [practitioner_id], list(roles.role_ids)

    def recent(a: Select, rt: str, param: str) -> Select:
        return a.where(a.selected_columns[0].in_(_recent(rt, param, since)))

    branches = [
        _subjects("Encounter", ("subject", "patient"),
                  recent(_refs("Encounter", ("service-provider",), "Organization", orgs), "Encounter", "date")),
        _subjects("Encounter", ("subject", "patient"),
                  recent(_refs("Encounter", ("participant", "practitioner"), "Practitioner", me), "Encounter", "date")),
        _subjects("EpisodeOfCare", ("patient",),
                  recent(_refs("EpisodeOfCare", ("organization",), "Organization", orgs), "EpisodeOfCare", "date")),
        *(_subjects("ServiceRequest", ("subject", "patient"),
                    recent(_refs("ServiceRequest", ("performer",), kind, ids), "ServiceRequest", "authored"))
          for kind, ids in (("Organization", orgs), ("Practitioner", me), ("PractitionerRole", role_ids)) if ids),
        *(_refs("Patient", ("general-practitioner",), kind, ids)
          for kind, ids in (("Organization", orgs), ("Practitioner", me), ("PractitionerRole", role_ids)) if ids),
    ]
    return union(*branches)


def _banned_patients(practitioner_id: str, orgs: tuple[str, ...]) -> Select:
    b = access_schema.ban
    return select(b.c.patient_id).where(b.c.resource_id.is_(None), limits.ban_applies(b, practitioner_id, orgs))


def clinician_grants(conn: Connection, p: Principal, today: date, window_days: int) -> tuple[list[Grant], list[Lapsed], Roles]:
    assert p.practitioner_id is not None
    roles = roles_of(conn, p.practitioner_id, today)
    grants: list[Grant] = []
    lapsed: list[Lapsed] = []
    orgs = roles.organizations
    is_designated = bool(orgs) and designated(conn, orgs)
    common = [limits.no_audit()]
    if not is_designated:
        common.append(limits.no_declarations(R.DECLARATIONS, "declarations are read by designated institutions only"))
    if roles.clinical_orgs:
        treating = treating_patients(p.practitioner_id, roles, window_days)
        banned = _banned_patients(p.practitioner_id, orgs)
        sq = treating.subquery()
        patients = select(sq.c[0]).where(not_(sq.c[0].in_(banned)))
        grants.append(Grant(R.TREATING, "clinician", patients, frozenset({READ, SEARCH, WRITE}),
                            (limits.document_bans(p.practitioner_id, orgs), *common), "TREAT"))
    if p.break_glass is not None and p.break_glass.expires > time.time() and roles.clinical_orgs:
        grants.append(Grant(R.BREAK_GLASS, "break-glass", (p.break_glass.patient_id,),
                            frozenset({READ, SEARCH, WRITE}), tuple(common), "BTG",
                            source=f"break-glass/{p.break_glass.review_id}"))
    if roles.pharmacy_orgs:
        grants.append(pharmacist_grant())
    if is_designated:
        grants.append(Grant(R.DECLARATIONS, "designated-institution", None, READ_ACTIONS,
                            (limits.only_declarations(),), "TREAT"))
    if not roles.role_ids:
        lapsed.append(Lapsed(R.TREATING, "*", "no active PractitionerRole"))
    return grants, lapsed, roles


def pharmacist_grant() -> Grant:
    return Grant(R.PHARMACIST, "pharmacist", None, READ_ACTIONS, (limits.active_prescriptions(),), "TREAT")


def has_treating_relationship(conn: Connection, practitioner_id: str, roles: Roles, patient_id: str,
                              window_days: int) -> bool:
    q = treating_patients(practitioner_id, roles, window_days).subquery()
    return conn.execute(select(q.c[0]).where(q.c[0] == patient_id).limit(1)).first() is not None


def whole_record_banned(conn: Connection, practitioner_id: str, orgs: tuple[str, ...], patient_id: str) -> bool:
    b = access_schema.ban
    return conn.execute(select(b.c.id).where(b.c.patient_id == patient_id, b.c.resource_id.is_(None),
                                             limits.ban_applies(b, practitioner_id, orgs)).limit(1)).first() is not None

