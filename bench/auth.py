"""Benchmarks run as a hospital's system, as production clients do: every endpoint needs a token.

The hospital ingests (so its own data is what it may read, access-rules.md rule 21) and the
HTTP clients send its bearer token, minted from the database's signing keys.
"""
from __future__ import annotations

from ehr_core.auth.principal import SYSTEM, Principal
from ehr_core.service import Service
from ehr_core.settings import Settings


def hospital(url: str, base_url: str = "http://127.0.0.1:8000") -> tuple[Principal, dict[str, str]]:
    """(principal for in-process ingest, HTTP headers with a token valid for ``base_url``)."""
    from ehr_core.auth.clients import ensure_organization
    svc = Service.from_settings(Settings(database_url=url, demo_data=False, base_url=base_url))
    org = ensure_organization(svc.handler, "40003000001", "Benchmark Hospital")
    principal = Principal(SYSTEM, "bench-hospital", name="bench", organization_id=org, role="hospital",
                          client_id="bench-hospital", scopes=frozenset({"system/*.cruds"}))
    token = svc.tokens.issue(principal, ttl=4 * 3600).access_token
    svc.engine.dispose()
    return principal, {"authorization": f"Bearer {token}"}
