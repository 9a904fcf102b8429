"""Rules 9-15: a person authorises another person (a proxy), as plain FHIR the grantor writes.

The grant (docs/access.md has the full example):
- ``RelatedPerson``: ``patient`` = the grantor, ``identifier`` = the proxy's personal code;
- ``Consent``: ``status`` active, ``scope`` consentscope#patient-privacy, ``patient`` = the
  grantor, ``provision.type`` permit, ``provision.period``, ``provision.actor[].reference`` =
  that RelatedPerson, ``provision.class`` = data categories (``CATEGORY_SYSTEM``) or resource
  types (none: all), ``provision.action`` = consentaction#access (read) and optionally
  ``PROXY_ACTION_SYSTEM#audit-view``.
Revoking = setting the Consent ``inactive`` (or deleting it); it applies to the next request.
A *future authorisation* (category ``GRANT_TYPE_SYSTEM#future-authorisation``) is stored
``proposed`` and grants nothing until a registry officer activates it on recorded evidence
(``verification`` with ``verified`` true) — rule 15.
"""
from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, select

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM, code_forms, compact
from ehr_core.access import labels, limits
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access.grants import AUDIT_VIEW, READ, SEARCH, Grant, Lapsed
from ehr_core.access.guardian import is_guardian_link
from ehr_core.storage import schema

CONSENT_SCOPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_ACTION_SYSTEM = "http://terminology.hl7.org/CodeSystem/consentaction"
PROXY_ACTION_SYSTEM = "https://evk.lv/fhir/CodeSystem/proxy-action"
GRANT_TYPE_SYSTEM = "https://evk.lv/fhir/CodeSystem/grant-type"
FUTURE = "future-authorisation"
DEFAULT_MONTHS = 12
MAX_YEARS = 5
ADULT = 18

__all__ = ["proxy_grants", "is_grant", "is_future_authorisation", "grantor_of", "proxy_code_of",
           "normalise_period", "period_error"]


def _codes(concepts: list | dict | None, system: str) -> set[str]:
    if isinstance(concepts, dict):
        concepts = [concepts]
    return {c.get("code") for cc in concepts or [] for c in (cc.get("coding") or []) if c.get("system") == system}


def is_grant(resource: dict) -> bool:
    """A patient-privacy Consent that is not a declaration: a proxy grant (or future authorisation)."""
    return (resource.get("resourceType") == "Consent"
            and "patient-privacy" in _codes(resource.get("scope"), CONSENT_SCOPE_SYSTEM)
            and not labels.is_declaration(resource))


def is_future_authorisation(resource: dict) -> bool:
    return FUTURE in _codes(resource.get("category"), GRANT_TYPE_SYSTEM)


def grantor_of(consent: dict) -> str | None:
    ref = (consent.get("patient") or {}).get("reference", "")
    return ref.split("/", 1)[1] if ref.startswith("Patient/") else None


def actors_of(consent: dict) -> list[str]:
    out = []
    for actor in (consent.get("provision") or {}).get("actor") or []:
        ref = (actor.get("reference") or {}).get("reference", "")
        if ref.startswith("RelatedPerson/"):
            out.append(ref.split("/", 1)[1])
    return out


def proxy_code_of(related: dict) -> str | None:
    for ident in related.get("identifier") or []:
        if ident.get("system") == PERSONAL_CODE_SYSTEM and ident.get("value"):
            return compact(str(ident["value"]))
    return None


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    y += d.year
    m += 1
    for day in (d.day, 30, 29, 28):
        try:
            return date(y, m, day)
        except ValueError:
            continue
    raise ValueError(d)


def normalise_period(consent: dict, today: date) -> None:
    """Rule 11: a grant without an end lasts 12 months from its start (default start: today)."""
    provision = consent.setdefault("provision", {})
    period = provision.setdefault("period", {})
    period.setdefault("start", today.isoformat())
    if not period.get("end"):
        start = date.fromisoformat(period["start"][:10])
        period["end"] = _add_months(start, DEFAULT_MONTHS).isoformat()


def period_error(consent: dict) -> str | None:
    period = (consent.get("provision") or {}).get("period") or {}
    try:
        start, end = date.fromisoformat(period["start"][:10]), date.fromisoformat(period["end"][:10])
    except (KeyError, ValueError):
        return "a grant needs provision.period with a start and an end date"
    if end < start:
        return "provision.period ends before it starts"
    if end > _add_months(start, 12 * MAX_YEARS):
        return f"a grant lasts at most {MAX_YEARS} years"
    return None


def _in_period(consent: dict, today: date) -> bool:
    period = (consent.get("provision") or {}).get("period") or {}
    day = today.isoformat()
    return period.get("start", "")[:10] <= day and (not period.get("end") or period["end"][:10] >= day)


def _relateds(conn: Connection, personal_code: str) -> dict[str, dict]:
    t = schema.sp_token
    code = compact(personal_code)
    ids = [r[0] for r in conn.execute(select(t.c.resource_id).where(
        t.c.resource_type == "RelatedPerson", t.c.param == "identifier", t.c.system == PERSONAL_CODE_SYSTEM,
        t.c.code.in_(code_forms(personal_code)))).all()]
    return {rid: res for rid, res in pt.read_current(conn, "RelatedPerson", set(ids)).items()
            if not is_guardian_link(res)}


def _consents_naming(conn: Connection, related_ids: list[str]) -> list[dict]:
    if not related_ids:
        return []
    ref = schema.sp_reference
    ids = [r[0] for r in conn.execute(select(ref.c.resource_id).where(
        ref.c.resource_type == "Consent", ref.c.param == "actor", ref.c.target_type == "RelatedPerson",
        ref.c.target_id.in_(related_ids))).all()]
    return list(pt.read_current(conn, "Consent", set(ids)).values())


def proxy_grants(conn: Connection, personal_code: str, today: date) -> tuple[list[Grant], list[Lapsed]]:
    relateds = _relateds(conn, personal_code)
    grants: list[Grant] = []
    lapsed: list[Lapsed] = []
    consents = _consents_naming(conn, list(relateds))
    born = pt.birth_dates(conn, {g for g in (grantor_of(c) for c in consents) if g})
    for consent in consents:
        grantor = grantor_of(consent)
        if grantor is None or not is_grant(consent):
            continue
        # The RelatedPerson must be the grantor's: nobody grants access to someone else's record.
        if not any((relateds[a].get("patient") or {}).get("reference") == f"Patient/{grantor}"
                   for a in actors_of(consent) if a in relateds):
            continue
        if (consent.get("provision") or {}).get("type", "permit") != "permit":
            continue
        status = consent.get("status")
        if status != "active":
            if is_future_authorisation(consent) and status in ("proposed", "draft"):
                lapsed.append(Lapsed(R.FUTURE_AUTHORISATION, grantor, "the future authorisation is dormant"))
            elif status in ("inactive", "rejected", "entered-in-error"):
                lapsed.append(Lapsed(R.PROXY_REVOKED, grantor, "the grant has been revoked"))
            else:
                lapsed.append(Lapsed(R.PROXY_GRANT, grantor, f"the grant is {status}"))
            continue
        if not _in_period(consent, today):
            lapsed.append(Lapsed(R.PROXY_PERIOD, grantor, "the grant is outside its period"))
            continue
        b = born.get(grantor)
        if b is None or pt.age(b, today) < ADULT:
            lapsed.append(Lapsed(R.PROXY_GRANT, grantor, "only an adult grants access"))
            continue
        provision = consent.get("provision") or {}
        actions = {READ, SEARCH}
        if "audit-view" in _codes(provision.get("action"), PROXY_ACTION_SYSTEM):
            actions.add(AUDIT_VIEW)
        lims = [limits.no_declarations(R.PROXY_CEILING, "grants exclude declarations")]
        covered = labels.categories_types(provision.get("class"))
        if covered is not None:
            allowed = set(covered) | ({"AuditEvent"} if AUDIT_VIEW in actions else set())
            lims.append(limits.types(frozenset(allowed), R.PROXY_SCOPE, "outside the grant's data categories"))
        if AUDIT_VIEW not in actions:
            lims.append(limits.no_audit())
        else:
            lims.append(limits.self_access_hidden())
        grants.append(Grant(R.PROXY_GRANT, "proxy", (grantor,), frozenset(actions), tuple(lims), "PWATRNY",
                            acting_for=grantor, source=f"Consent/{consent['id']}"))
    return grants, lapsed


def proxies_named(conn: Connection, consent: dict) -> list[tuple[str, str | None]]:
    """(RelatedPerson id, proxy's personal code) of a grant's actors (for revocation notices)."""
    found = pt.read_current(conn, "RelatedPerson", actors_of(consent))
    return [(rid, proxy_code_of(res)) for rid, res in found.items()]
