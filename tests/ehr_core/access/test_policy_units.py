"""Unit tests of the policy modules (no server, no database unless stated)."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from ehr_core.access import labels, proxy
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access.guardian import is_guardian_link
from ehr_core.access.interaction import classify
from ehr_core.rest.messages import FhirRequest


def test_age_turns_at_midnight_in_riga_not_utc():
    # 22:30 UTC on 31 May is already 1 June in Riga (UTC+3 in summer): the 18th birthday has begun.
    late = datetime(2026, 5, 31, 22, 30, tzinfo=timezone.utc)
    assert pt.today_riga(late) == date(2026, 6, 1)
    assert pt.age(date(2008, 6, 1), pt.today_riga(late)) == 18
    assert pt.age(date(2008, 6, 1), date(2026, 5, 31)) == 17


def test_leap_day_birthdays_come_of_age_on_1_march():
    assert pt.age(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert pt.age(date(2008, 2, 29), date(2026, 3, 1)) == 18


@pytest.mark.parametrize("security, sensitive", [
    ([{"system": labels.CONFIDENTIALITY, "code": "R"}], True),
    ([{"system": labels.CONFIDENTIALITY, "code": "N"}], False),
    ([{"system": labels.ACT_CODE, "code": "PSY"}], True),
    ([{"system": "http://other", "code": "HIV"}], False),
    ([], False),
])
def test_sensitivity_labels(security, sensitive):  # noqa: ANN001
    assert labels.is_sensitive({"resourceType": "Observation", "meta": {"security": security}}) is sensitive


def test_categories_map_to_resource_types():
    assert labels.categories_types(None) is None
    assert labels.categories_types([{"system": labels.CATEGORY_SYSTEM, "code": "all"}]) is None
    covered = labels.categories_types([{"system": labels.CATEGORY_SYSTEM, "code": "immunizations"},
                                       {"system": labels.RESOURCE_TYPES_SYSTEM, "code": "AllergyIntolerance"}])
    assert "Immunization" in covered and "AllergyIntolerance" in covered and "Condition" not in covered


def test_grant_period_defaults_to_12_months_and_is_capped_at_5_years():
    consent = {"resourceType": "Consent", "provision": {}}
    proxy.normalise_period(consent, date(2026, 1, 31))
    assert consent["provision"]["period"] == {"start": "2026-01-31", "end": "2027-01-31"}
    assert proxy.period_error(consent) is None
    consent["provision"]["period"]["end"] = "2031-02-01"
    assert "5 years" in proxy.period_error(consent)
    consent["provision"]["period"]["end"] = "2025-01-01"
    assert "before" in proxy.period_error(consent)


def test_grant_and_link_recognition():
    grant = {"resourceType": "Consent", "scope": {"coding": [{"system": proxy.CONSENT_SCOPE_SYSTEM,
                                                              "code": "patient-privacy"}]}}
    assert proxy.is_grant(grant)
    decl = dict(grant, category=[{"coding": [{"system": labels.DECLARATION_SYSTEM, "code": "autopsy"}]}])
    assert labels.is_declaration(decl) and not proxy.is_grant(decl)
    assert is_guardian_link({"resourceType": "RelatedPerson", "relationship": [{"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "GUARD"}]}]})
    assert not is_guardian_link({"resourceType": "RelatedPerson", "relationship": [{"coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "FRND"}]}]})


@pytest.mark.parametrize("method, url, kind, letter", [
    ("GET", "metadata", "capabilities", "r"),
    ("GET", "Observation/1", "read", "r"),
    ("GET", "Observation/1/_history/2", "vread", "r"),
    ("GET", "Observation/1/_history", "history", "r"),
    ("GET", "Observation/_history", "history", "s"),
    ("GET", "Observation?code=x", "search", "s"),
    ("POST", "Observation/_search", "search", "s"),
    ("GET", "Patient/1/Observation", "search", "s"),
    ("POST", "Observation", "create", "c"),
    ("PUT", "Observation/1", "update", "u"),
    ("PUT", "Observation?identifier=x", "update", "u"),
    ("PATCH", "Observation/1", "patch", "u"),
    ("DELETE", "Observation/1", "delete", "d"),
    ("GET", "Patient/1/$everything", "operation", "r"),
    ("GET", "Spaceship/1", "unknown", "r"),
])
def test_classify_matches_the_handler_routes(method, url, kind, letter):  # noqa: ANN001
    it = classify(FhirRequest.from_url(method, url))
    assert it.kind == kind and it.scope_letter == letter


def test_a_hidden_item_answers_word_for_word_like_an_unknown_one():
    hidden = R.deny(R.SENSITIVE_14, "sensitive", 404).error("Observation/1")
    from ehr_core import errors
    unknown = errors.not_found("Observation/1 is not known")
    assert hidden.status == unknown.status and hidden.outcome == unknown.outcome


def test_refusals_name_their_rule():
    err = R.deny(R.TREATING, "no treating relationship").error("Observation/1")
    assert err.status == 403 and err.issues[0].rule == "access-16" and "rule 16" in err.issues[0].diagnostics


def test_limits_by_type_fold_into_the_clause_when_the_types_are_known():
    """A search of one type carries no other type's branch: PostgreSQL pulls an EXISTS up into
    a join only when it is not under an OR, and simplifies "false OR x" too late for that."""
    from sqlalchemy import or_
    from sqlalchemy.dialects import postgresql

    from ehr_core.access import limits
    from ehr_core.access.entitlements import directory_grant
    from ehr_core.access.grants import Grant
    from ehr_core.storage import schema

    r = schema.resource.alias("r")

    def sql(clause) -> str:  # noqa: ANN001
        return str(clause.compile(dialect=postgresql.psycopg.dialect(), compile_kwargs={"literal_binds": True}))

    directory = directory_grant()
    assert sql(directory.clause(r, frozenset({"Observation"}))) == "false"
    assert sql(directory.clause(r, frozenset({"Organization", "Location"}))) == "true"
    assert "IN ('ActivityDefinition'" in sql(directory.clause(r))          # any type: the test stays
    hospital = Grant(R.BACKEND_CLIENT, "organization", None, limits=(limits.origin("org-1"),))
    designated = Grant(R.DECLARATIONS, "designated-institution", None, limits=(limits.only_declarations(),))
    folded = sql(or_(*(g.clause(r, frozenset({"Observation"})) for g in (directory, hospital, designated))))
    assert folded.startswith("EXISTS (SELECT") and "false" not in folded
    assert sql(limits.no_audit().allows_for(r, frozenset({"Observation"}))) == "true"
    assert sql(limits.no_audit().allows_for(r, frozenset({"AuditEvent"}))) == "r.resource_type != 'AuditEvent'"
