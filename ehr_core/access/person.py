"""Rule 1 and 2: a person reads and searches their own record, including their audit trail;
declarations only as an adult (rule 20)."""
from __future__ import annotations

from datetime import date

from sqlalchemy import Connection

from ehr_core.access import limits
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access.grants import ALL_ACTIONS, Grant

ADULT = 18

__all__ = ["own_grants"]


def own_grants(conn: Connection, personal_code: str, today: date) -> tuple[tuple[str, ...], list[Grant]]:
    own = tuple(pt.by_personal_code(conn, personal_code, on=today))
    born = pt.birth_dates(conn, own)
    grants = []
    for pid in own:
        b = born.get(pid)
        lims = ()
        if b is None or pt.age(b, today) < ADULT:
            lims = (limits.no_declarations(R.DECLARATIONS, "declarations are read by the person as an adult"),)
        grants.append(Grant(R.SELF, "self", (pid,), ALL_ACTIONS, lims, "PATRQT", acting_for=pid))
    return own, grants
