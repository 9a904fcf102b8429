"""Everything a principal may do right now, resolved from the data on every request.

A person's or clinician's grants are resolved afresh on every request: a revoked grant, an
ended custody link or a new birthday applies to the very next request (rules 4, 11, 12).
Within one unit of work (a transaction Bundle's entries) the resolution is shared. A system
client's grants follow from its token alone, so the guard keeps them while the token lives.
"""
from __future__ import annotations

from dataclasses import replace
from datetime import date

from sqlalchemy import Connection

from ehr_core.access import limits
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access.client import client_grants
from ehr_core.access.clinician import clinician_grants
from ehr_core.access.grants import READ_ACTIONS, Entitlements, Grant, Limit
from ehr_core.access.guardian import guardian_grants
from ehr_core.access.person import own_grants
from ehr_core.access.proxy import proxy_grants
from ehr_core.auth.principal import Principal

__all__ = ["resolve", "directory_grant"]


def directory_grant() -> Grant:
    return Grant(R.DIRECTORY, "directory", None, READ_ACTIONS, (limits.directory(),), "HOPERAT")


def resolve(conn: Connection, p: Principal, *, today: date | None = None, treating_days: int = 90) -> Entitlements:
    today = today or pt.today_riga()
    ents = Entitlements()
    if p.is_anonymous:
        return ents
    ents.grants.append(directory_grant())
    if p.is_person and p.personal_code:
        own, grants = own_grants(conn, p.personal_code, today)
        ents.own_patients = own
        ents.grants += grants
        g, lapsed = guardian_grants(conn, p.personal_code, today)
        ents.grants += g
        ents.lapsed += lapsed
        g, lapsed = proxy_grants(conn, p.personal_code, today)
        ents.grants += g
        ents.lapsed += lapsed
    elif p.is_practitioner and p.practitioner_id:
        g, lapsed, roles = clinician_grants(conn, p, today, treating_days)
        ents.grants += g
        ents.lapsed += lapsed
        ents.roles = roles
        # A supervisor who only reviews (no clinical role) still acts for their organisation.
        ents.organizations = roles.organizations or roles.review_orgs
    elif p.is_system:
        ents.grants += client_grants(p)
        ents.organizations = (p.organization_id,) if p.organization_id else ()
    if p.patient_context:
        ents.grants = [_in_context(g, p.patient_context) for g in ents.grants]
    return ents


def _in_context(g: Grant, patient_id: str) -> Grant:
    """A SMART launch context (``patient``) narrows every patient grant to that one patient."""
    if g.relation == "directory":
        return g
    if isinstance(g.patients, tuple):
        return replace(g, patients=tuple(x for x in g.patients if x == patient_id))
    ctx = Limit(R.SCOPE, 403, "outside the token's patient context",
                lambda r: pt.in_compartment(r, (patient_id,)))
    return replace(g, limits=(*g.limits, ctx))
