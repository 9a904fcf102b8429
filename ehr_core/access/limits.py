"""The limits grants carry, each a SQL clause naming its rule (see ``grants``).

``r`` is always an alias of the ``resource`` table (or ``resource_version``: only its
``resource_type`` and ``id`` columns are used, so history narrows the same way).
"""
from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, exists, false, not_, or_, select, tuple_

from ehr_core.access import labels
from ehr_core.access import rules as R
from ehr_core.access import schema as access_schema
from ehr_core.access.grants import Limit
from ehr_core.storage import schema
from ehr_core.storage.constants import constant_in

AUDIT_TAG_SYSTEM = "https://evk.lv/fhir/CodeSystem/audit-tag"
SELF_ACCESS = "self-access"

__all__ = ["sensitive", "hidden", "no_declarations", "types", "no_audit", "self_access_hidden",
           "document_bans", "origin", "active_prescriptions", "only_declarations", "directory"]


_CONSENT = frozenset({"Consent"})
_AUDIT_EVENT = frozenset({"AuditEvent"})


def sensitive() -> Limit:
    return Limit(R.SENSITIVE_14, 404, "sensitive data of a ward aged 14 or more",
                 lambda r: not_(labels.sensitive_clause(r)))


def hidden(patient_ids: Iterable[str]) -> Limit:
    """Rule 6: the hidden encounter/document itself and every resource that refers to it."""
    ids = sorted(patient_ids)

    def allows(r):  # noqa: ANN001, ANN202
        h = access_schema.hidden
        items = select(h.c.resource_type, h.c.resource_id).where(h.c.patient_id.in_(ids))
        ref = schema.sp_reference.alias()
        belongs = select(ref.c.resource_type, ref.c.resource_id).where(
            tuple_(ref.c.target_type, ref.c.target_id).in_(items))
        return not_(or_(tuple_(r.c.resource_type, r.c.id).in_(items),
                        tuple_(r.c.resource_type, r.c.id).in_(belongs)))
    return Limit(R.HIDDEN_BY_MINOR, 404, "hidden by the ward", allows)


def no_declarations(rule: str, reason: str) -> Limit:
    return Limit(rule, 403, reason, lambda r: not_(labels.declaration_clause(r)), acts_on=_CONSENT)


def only_declarations() -> Limit:
    return Limit(R.DECLARATIONS, 403, "a designated institution reads declarations only",
                 labels.declaration_clause, within=_CONSENT)


def designated_institution(organization_id: str, system: str, codes: tuple[str, ...]) -> Limit:
    """The organisation is designated (its ``type`` carries a designation code), decided in the
    query itself so a system client's grants depend on its token alone and can be reused."""
    def allows(r):  # noqa: ANN001, ANN202
        t = schema.sp_token.alias()
        return exists().where(t.c.resource_type == "Organization", t.c.resource_id == organization_id,
                              t.c.param == "type", t.c.system == system, constant_in(t.c.code, codes))
    return Limit(R.DECLARATIONS, 403, "declarations are read by designated institutions only", allows)


def types(allowed: frozenset[str], rule: str, reason: str) -> Limit:
    return Limit(rule, 403, reason, lambda r: constant_in(r.c.resource_type, allowed),
                 within=frozenset(allowed), only_types=True)


def no_audit() -> Limit:
    return Limit(R.AUDIT_VIEW, 403, "the audit trail is for the patient and proxies with audit-view",
                 lambda r: r.c.resource_type != "AuditEvent", acts_on=_AUDIT_EVENT)


def self_access_hidden() -> Limit:
    """Rule 2: one's own reads are audited but left out of one's audit view by default."""
    def allows(r):  # noqa: ANN001, ANN202
        t = schema.sp_token.alias()
        tagged = select(t.c.resource_id).where(t.c.resource_type == "AuditEvent", t.c.param == "_tag",
                                               t.c.system == AUDIT_TAG_SYSTEM, t.c.code == SELF_ACCESS)
        return not_(and_(r.c.resource_type == "AuditEvent", r.c.id.in_(tagged)))
    return Limit(R.SELF_AUDIT_HIDDEN, 404, "own accesses are hidden from one's audit view", allows,
                 acts_on=_AUDIT_EVENT)


def ban_applies(b, practitioner_id: str | None, organizations: Iterable[str]):  # noqa: ANN001, ANN201
    """A ban row applies to this clinician: named, their organisation named, or nobody named."""
    orgs = sorted(organizations)
    return and_(b.c.active.is_(True), or_(
        b.c.practitioner_id == practitioner_id if practitioner_id else false(),
        b.c.organization_id.in_(orgs) if orgs else false(),
        and_(b.c.practitioner_id.is_(None), b.c.organization_id.is_(None))))


def document_bans(practitioner_id: str | None, organizations: Iterable[str]) -> Limit:
    orgs = tuple(organizations)

    def allows(r):  # noqa: ANN001, ANN202
        b = access_schema.ban
        banned = select(b.c.resource_type, b.c.resource_id).where(
            b.c.resource_id.is_not(None), ban_applies(b, practitioner_id, orgs))
        return not_(tuple_(r.c.resource_type, r.c.id).in_(banned))
    return Limit(R.BAN, 403, "the patient has banned this access to the document", allows)


def origin(organization_id: str) -> Limit:
    def allows(r):  # noqa: ANN001, ANN202
        # Correlated EXISTS on the origin table's primary key: an IN list of every resource the
        # organisation ever submitted is materialised per query (measured 7 ms a read at 30k).
        o = access_schema.resource_origin.alias()
        return exists().where(o.c.resource_type == r.c.resource_type, o.c.resource_id == r.c.id,
                              o.c.organization_id == organization_id)
    return Limit(R.BACKEND_CLIENT, 403, "a system reads only what its organisation submitted; "
                 "anything else needs a user context", allows)


def active_prescriptions() -> Limit:
    def allows(r):  # noqa: ANN001, ANN202
        t = schema.sp_token.alias()
        return and_(r.c.resource_type == "MedicationRequest", r.c.id.in_(select(t.c.resource_id).where(
            t.c.resource_type == "MedicationRequest", t.c.param == "status", t.c.code == "active")))
    return Limit(R.PHARMACIST, 403, "pharmacists read active e-prescriptions only", allows,
                 within=frozenset({"MedicationRequest"}))


def directory() -> Limit:
    return Limit(R.DIRECTORY, 403, "not directory data", lambda r: constant_in(r.c.resource_type, labels.DIRECTORY_TYPES),
                 within=frozenset(labels.DIRECTORY_TYPES), only_types=True)
