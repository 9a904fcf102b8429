"""What a principal may see, as data: grants with limits, compiled to one SQL condition.

A ``Grant`` says "these patients' records (or, with ``patients=None``, records of anyone),
for these actions, because of this rule", and carries ``Limit``s that take parts away (sensitive
items from guardians of a 14-year-old, categories outside a proxy grant...). A row is visible
when some grant covers it and all of that grant's limits allow it. The same clauses decide a
single read (evaluated on one row, so a denial can name the limit that failed and answer 403 or
404) and narrow every search, count, include and history page.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, and_, false, or_, true
from sqlalchemy.sql.elements import False_, True_

from ehr_core.access import patients as pt

Clause = Callable[[object], ColumnElement[bool]]

READ = "read"            # read, vread, instance history
SEARCH = "search"
WRITE = "write"          # create, update, patch
DELETE = "delete"
AUDIT_VIEW = "audit-view"
ALL_ACTIONS = frozenset({READ, SEARCH, WRITE, DELETE, AUDIT_VIEW})
READ_ACTIONS = frozenset({READ, SEARCH})

__all__ = ["Limit", "Grant", "Lapsed", "Entitlements", "READ", "SEARCH", "WRITE", "DELETE", "AUDIT_VIEW"]


@dataclass(frozen=True)
class Limit:
    rule: str
    status: int                 # 404 where even existence must not show, else 403
    reason: str
    allows: Clause              # SQL: true for rows this limit lets through
    # What the limit is known to do by resource type, so that a search or read of known types
    # gets a query without the other types' branches (each is planned, and an OR around the live
    # one keeps PostgreSQL from turning its EXISTS into a join; see Grant.clause):
    within: frozenset[str] | None = None     # outside these types it lets nothing through
    only_types: bool = False                 # it is just the type test "within"
    acts_on: frozenset[str] | None = None    # outside these types it lets everything through

    def allows_for(self, r, types: frozenset[str] | None) -> ColumnElement[bool]:  # noqa: ANN001
        """``allows(r)`` for rows whose type is one of ``types`` (None: any type)."""
        if types is not None:
            if self.within is not None:
                if types.isdisjoint(self.within):
                    return false()
                if self.only_types and types <= self.within:
                    return true()
            if self.acts_on is not None and types.isdisjoint(self.acts_on):
                return true()
        return self.allows(r)


@dataclass(frozen=True)
class Grant:
    rule: str                   # the rule that grants (1 self, 3 guardian, 9 proxy, 16 clinician...)
    relation: str               # self | guardian | proxy | clinician | break-glass | pharmacist | ...
    patients: object            # tuple of Patient ids, a SELECT of ids, or None (no patient bound)
    actions: frozenset[str] = READ_ACTIONS
    limits: tuple[Limit, ...] = ()
    purpose: str = "PATRQT"     # v3-ActReason purpose of use, for the audit record
    acting_for: str | None = None
    source: str | None = None   # the resource that grants it (Consent/x, RelatedPerson/y), for audit

    def covers(self, r, types: frozenset[str] | None = None) -> ColumnElement[bool]:  # noqa: ANN001
        """Rows this grant reaches before its limits (``types``: the only types ``r`` can have)."""
        return true() if self.patients is None else pt.in_compartment(r, self.patients, types)

    def clause(self, r, types: frozenset[str] | None = None) -> ColumnElement[bool]:  # noqa: ANN001
        parts = [self.covers(r, types), *(lim.allows_for(r, types) for lim in self.limits)]
        # Folded here, not left to the database: PostgreSQL pulls an EXISTS up into a join only
        # when it is not under an OR, and it simplifies "false OR x" only after that step.
        if any(isinstance(p, False_) for p in parts):
            return false()
        parts = [p for p in parts if not isinstance(p, True_)]
        return and_(*parts) if parts else true()

    def names_patient(self, patient_id: str) -> bool | None:
        """True/False when the grant lists its patients; None when it is a query or unbounded."""
        if isinstance(self.patients, tuple):
            return patient_id in self.patients
        return None


@dataclass(frozen=True)
class Lapsed:
    """A grant that would apply but does not now (ward is 18, grant expired or revoked...):
    kept to name the deciding rule when a request is refused."""
    rule: str
    patient_id: str
    reason: str


@dataclass
class Entitlements:
    grants: list[Grant] = field(default_factory=list)
    lapsed: list[Lapsed] = field(default_factory=list)
    # Persons: every patient record that is theirs (rule 1), for self-audit tagging.
    own_patients: tuple[str, ...] = ()
    organizations: tuple[str, ...] = ()     # practitioners and systems: on whose behalf they act
    roles: object = None                    # practitioners: clinician.Roles

    def with_action(self, action: str) -> list[Grant]:
        return [g for g in self.grants if action in g.actions]

    def visible(self, r, action: str = SEARCH) -> ColumnElement[bool]:  # noqa: ANN001
        grants = self.with_action(action)
        if not grants:
            return false()
        return or_(*(g.clause(r) for g in grants))
