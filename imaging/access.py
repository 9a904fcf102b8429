"""The one access decision every imaging route asks for — a placeholder until the core's guard exists.

Every route calls ``guard(principal, patient_id, action)`` exactly once before it touches data
(``patient_id`` is the card's Patient id, None for cross-patient actions such as searching,
storing, administration). Today it allows everything. When the core guard lands (see
docs/architecture.md: "one guard called from Handler.dispatch and narrowing search SQL"), this
function delegates to it, records the audit event there, and QIDO passes its narrowing into
the index query instead of filtering results afterwards.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ACTIONS = ("search", "read", "store", "administer", "reconcile")


@dataclass(frozen=True)
class Principal:
    id: str
    roles: frozenset[str] = frozenset()


ANONYMOUS = Principal("anonymous")


def principal_from(headers: Mapping[str, str]) -> Principal:
    """Who is asking. No authentication exists yet: everyone is ANONYMOUS."""
    return ANONYMOUS


def guard(principal: Principal, patient_id: str | None, action: str) -> None:
    """Allow or raise ``imaging.errors.Forbidden``. Placeholder: allows every known action."""
    if action not in ACTIONS:
        raise ValueError(f"unknown imaging action {action!r}")
