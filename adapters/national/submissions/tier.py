"""A backend client's conformance tier: which national rules its submissions must meet.

* ``strict`` (the default at registration) — every resource is held to the national
  submission tier (``NationalValidator(enforce="all")``, as the ``$validate`` sandbox does) and
  the envelope of a submission (``submission.envelope``: POST/PUT entries only).
* ``claimed`` — the submission tier only for resources claiming a national profile in
  ``meta.profile``, the rest as any write. For systems still being brought up to the standard,
  and for test data that is not national: Synthea bundles are refused under ``strict`` (US Core
  extensions, US identifier systems on Patient/Practitioner/Organization).

A system principal without a registration row (benchmarks mint their own in-process) is
``claimed``: the HTTP edge only ever sees tokens of registered clients.
"""
from __future__ import annotations

from sqlalchemy import Connection, Engine, select, update

from ehr_core.access import schema as access_schema

STRICT, CLAIMED = "strict", "claimed"
TIERS = (STRICT, CLAIMED)
UNREGISTERED = CLAIMED


def tier_of(conn: Connection, client_id: str | None) -> str:
    c = access_schema.client.c
    found = conn.execute(select(c.conformance).where(c.client_id == client_id)).scalar() if client_id else None
    return found or UNREGISTERED


def set_tier(engine: Engine, client_id: str, tier: str) -> None:
    """``evk clients conformance CLIENT_ID strict|claimed``; ``ValueError`` for an unknown client."""
    if tier not in TIERS:
        raise ValueError(f"conformance must be one of {', '.join(TIERS)}")
    c = access_schema.client.c
    with engine.begin() as conn:
        if conn.execute(update(access_schema.client).where(c.client_id == client_id).values(conformance=tier)).rowcount != 1:
            raise ValueError(f"no registered client {client_id!r}")
