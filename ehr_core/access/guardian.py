"""Rules 3-7: parents with custody and court-appointed guardians, from the population register.

The register's feed is FHIR: ``RelatedPerson`` with ``patient`` = the child or ward, an
``identifier`` holding the guardian's personal code, ``relationship`` v3-RoleCode PRN, MTH, FTH
or GUARD, and a ``period``. Only the register writes such links (``writes``). A link is
read on every request (rule 4: a change applies to the next request), and ends at the ward's
18th birthday in Europe/Riga (rule 3), the age taken from the register's birth date.
"""
from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, select

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM, code_forms, compact
from ehr_core.access import limits
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access.grants import READ_ACTIONS, Grant, Lapsed
from ehr_core.storage import schema

ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
GUARDIAN_CODES = ("PRN", "MTH", "FTH", "GUARD")
ADULT = 18
SENSITIVE_FROM = 14

__all__ = ["guardian_grants", "is_guardian_link", "GUARDIAN_CODES", "wards_of"]


def is_guardian_link(resource: dict) -> bool:
    if resource.get("resourceType") != "RelatedPerson":
        return False
    return any(c.get("system") == ROLE_CODE_SYSTEM and c.get("code") in GUARDIAN_CODES
               for rel in resource.get("relationship") or [] for c in rel.get("coding") or [])


def _in_period(period: dict | None, today: date) -> bool:
    period = period or {}
    day = today.isoformat()
    return period.get("start", "")[:10] <= day and (not period.get("end") or period["end"][:10] >= day)


def _links(conn: Connection, personal_code: str) -> list[dict]:
    t, rel = schema.sp_token.alias(), schema.sp_token.alias()
    code = compact(personal_code)
    ids = select(t.c.resource_id).where(
        t.c.resource_type == "RelatedPerson", t.c.param == "identifier", t.c.system == PERSONAL_CODE_SYSTEM,
        t.c.code.in_(code_forms(personal_code)),
        t.c.resource_id.in_(select(rel.c.resource_id).where(
            rel.c.resource_type == "RelatedPerson", rel.c.param == "relationship",
            rel.c.system == ROLE_CODE_SYSTEM, rel.c.code.in_(GUARDIAN_CODES))))
    found = [r[0] for r in conn.execute(ids).all()]
    return [res for res in pt.read_current(conn, "RelatedPerson", set(found)).values() if is_guardian_link(res)]


def _ward(link: dict) -> str | None:
    ref = (link.get("patient") or {}).get("reference", "")
    return ref.split("/", 1)[1] if ref.startswith("Patient/") else None


def guardian_grants(conn: Connection, personal_code: str, today: date) -> tuple[list[Grant], list[Lapsed]]:
    grants: list[Grant] = []
    lapsed: list[Lapsed] = []
    links = [(link, _ward(link)) for link in _links(conn, personal_code)]
    born = pt.birth_dates(conn, {w for _, w in links if w})
    for link, ward in links:
        if ward is None:
            continue
        if link.get("active") is False or not _in_period(link.get("period"), today):
            lapsed.append(Lapsed(R.REGISTER_CHANGE, ward, "the register's custody or guardianship link has ended"))
            continue
        b = born.get(ward)
        if b is None:
            lapsed.append(Lapsed(R.GUARDIAN, ward, "the register has no birth date for the ward"))
            continue
        years = pt.age(b, today)
        if years >= ADULT:
            lapsed.append(Lapsed(R.GUARDIAN, ward, "the ward has turned 18"))
            continue
        lims = [limits.no_declarations(R.GUARDIAN_DECLARATIONS, "guardians never read a ward's declarations"),
                limits.no_audit()]
        if years >= SENSITIVE_FROM:
            lims += [limits.sensitive(), limits.hidden([ward])]
        grants.append(Grant(R.GUARDIAN, "guardian", (ward,), READ_ACTIONS, tuple(lims), "FAMRQT",
                            acting_for=ward, source=f"RelatedPerson/{link['id']}"))
    return grants, lapsed


def wards_of(conn: Connection, personal_code: str, today: date) -> list[str]:
    return [g.acting_for for g in guardian_grants(conn, personal_code, today)[0] if g.acting_for]


def guardians_of(conn: Connection, ward_id: str, today: date) -> list[dict]:
    """The ward's current guardian links (for notices)."""
    ref = schema.sp_reference
    ids = [r[0] for r in conn.execute(select(ref.c.resource_id).where(
        ref.c.resource_type == "RelatedPerson", ref.c.param == "patient", ref.c.target_type == "Patient",
        ref.c.target_id == ward_id)).all()]
    return [res for res in pt.read_current(conn, "RelatedPerson", ids).values()
            if is_guardian_link(res) and res.get("active") is not False and _in_period(res.get("period"), today)]
