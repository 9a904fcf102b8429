"""SMART scopes intersected with the rules: a scope can only take away (``auth.scopes``).

Person and practitioner tokens carry ``user/`` scopes (and ``patient/`` ones, which count only
with a patient context); system tokens carry ``system/`` scopes. A granular scope's parameters
(``?category=...``) become a SQL condition on the token index.
"""
from __future__ import annotations

from sqlalchemy import ColumnElement, and_, false, or_, select, true, tuple_

from ehr_core.access import rules as R
from ehr_core.auth.principal import Principal
from ehr_core.auth.scopes import Scope, parse_all
from ehr_core.storage import schema

__all__ = ["applicable", "check", "clause"]


def applicable(p: Principal) -> list[Scope]:
    contexts = {"system"} if p.is_system else {"user"} | ({"patient"} if p.patient_context else set())
    return [s for s in parse_all(p.scopes) if s.context in contexts]


def check(p: Principal, rt: str, letter: str) -> R.Verdict | None:
    """A refusal when no scope covers ``letter`` (c r u d s) on ``rt``; None when some does."""
    if any(s.permits(rt, letter) for s in applicable(p)):
        return None
    return R.deny(R.SCOPE, f"the token's scopes do not allow '{letter}' on {rt}")


def _param_clause(r, name: str, value: str) -> ColumnElement[bool]:  # noqa: ANN001
    t = schema.sp_token.alias()
    system, sep, code = value.rpartition("|")
    conds = [t.c.param == name, t.c.code == code]
    if sep and system:
        conds.append(t.c.system == system)
    return tuple_(r.c.resource_type, r.c.id).in_(select(t.c.resource_type, t.c.resource_id).where(*conds))


def clause(p: Principal, letter: str):  # noqa: ANN201
    """``r -> condition``: rows some scope with ``letter`` reaches (type and granular parameters)."""
    scopes = [s for s in applicable(p) if letter in s.actions]

    def test(r) -> ColumnElement[bool]:  # noqa: ANN001
        branches = []
        for s in scopes:
            cond = true() if s.resource_type == "*" else r.c.resource_type == s.resource_type
            if s.params:
                cond = and_(cond, *(_param_clause(r, k, v) for k, v in s.params))
            branches.append(cond)
        if not branches:
            return false()
        if any(s.resource_type == "*" and not s.params for s in scopes):
            return true()
        return or_(*branches)
    return test
