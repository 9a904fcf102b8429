"""Rule 21: a hospital (or other) system, signed in as a SMART Backend Services client, writes
on behalf of its organisation and reads what its organisation submitted; reading anything
else needs a user context. A pharmacy's system also reads active e-prescriptions (rule 19);
a designated institution's system reads declarations (rule 20).
"""
from __future__ import annotations

from ehr_core.access import limits
from ehr_core.access import rules as R
from ehr_core.access.clinician import DESIGNATION_SYSTEM, DESIGNATIONS, pharmacist_grant
from ehr_core.access.grants import DELETE, READ, SEARCH, WRITE, Grant
from ehr_core.auth.principal import Principal

HOSPITAL, PHARMACY, REGISTER, CONTACT_POINT = "hospital", "pharmacy", "register", "contact-point"
ROLES = (HOSPITAL, PHARMACY, REGISTER, CONTACT_POINT)

__all__ = ["client_grants", "ROLES"]


def client_grants(p: Principal) -> list[Grant]:
    """A function of the token alone (the designation is a limit evaluated in SQL), so the
    guard may keep a client's grants for the token's lifetime."""
    if not p.organization_id:
        return []
    purpose = "HOPERAT" if p.role == REGISTER else "TREAT"
    grants = [Grant(R.BACKEND_CLIENT, "system", None, frozenset({READ, SEARCH, WRITE, DELETE}),
                    (limits.origin(p.organization_id),), purpose)]
    if p.role == PHARMACY:
        grants.append(pharmacist_grant())
    grants.append(Grant(R.DECLARATIONS, "designated-institution", None, frozenset({READ, SEARCH}),
                        (limits.only_declarations(),
                         limits.designated_institution(p.organization_id, DESIGNATION_SYSTEM, DESIGNATIONS)),
                        "TREAT"))
    return grants
