"""Token :in, :not-in, :below and :above answered from the national classifiers
(search.html#token), on both engines; expected ids computed here from the classifiers' data."""
from __future__ import annotations

import pytest

from adapters.terminology.service import terminology
from tests.utils.fhir import SYNTHEA, call, load_json

ICD10 = "http://hl7.org/fhir/sid/icd-10"
LOINC_SUBSET = "https://evk.lv/fhir/ValueSet/loinc"


def _condition(handler, code: str) -> str:  # noqa: ANN001
    body = {"resourceType": "Condition", "subject": {"display": "test"},
            "code": {"coding": [{"system": ICD10, "code": code}]}}
    resp = call(handler, "POST", "Condition", body)
    assert resp.status == 201, resp.body
    return resp.body["id"]


def _ids(handler, url: str) -> set[str]:  # noqa: ANN001
    resp = call(handler, "GET", url + "&_count=1000")
    assert resp.status == 200, resp.body
    return {e["resource"]["id"] for e in resp.body.get("entry", []) if e["search"]["mode"] == "match"}


@pytest.fixture
def diagnoses(handler):  # noqa: ANN001
    # E11 (type 2 diabetes) with two subcategories, E10 beside it, I10 elsewhere in the tree
    return {code: _condition(handler, code) for code in ("E11", "E11.9", "E11.4", "E10.9", "I10")}


def test_below_is_the_code_and_its_descendants(handler, diagnoses):  # noqa: ANN001
    found = _ids(handler, f"Condition?code:below={ICD10}|E11")
    assert found == {diagnoses["E11"], diagnoses["E11.9"], diagnoses["E11.4"]}
    # the block (E10-E14) reaches every diabetes code, and not I10
    block = terminology().code_system(ICD10).get("E11").parents[0]
    assert _ids(handler, f"Condition?code:below={ICD10}|{block}") >= {diagnoses["E10.9"], diagnoses["E11"]}
    assert diagnoses["I10"] not in _ids(handler, f"Condition?code:below={ICD10}|{block}")


def test_above_is_the_code_and_its_ancestors(handler, diagnoses):  # noqa: ANN001
    assert _ids(handler, f"Condition?code:above={ICD10}|E11.9") == {diagnoses["E11"], diagnoses["E11.9"]}


def test_in_and_not_in_a_value_set_on_synthea(handler):  # noqa: ANN001
    bundle = load_json(sorted(SYNTHEA.glob("*.json"))[0])
    assert call(handler, "POST", "", bundle).status == 200
    observations = [e["resource"] for e in call(handler, "GET", "Observation?_count=1000").body["entry"]]
    subset = {(m.system, m.code) for m in terminology().expansion(terminology().value_set(LOINC_SUBSET)).members}
    inside = {o["id"] for o in observations
              if any((c.get("system"), c.get("code")) in subset for c in o["code"].get("coding", []))}
    assert inside, "the LOINC subset covers the Synthea observations"
    assert _ids(handler, f"Observation?code:in={LOINC_SUBSET}") == inside
    assert _ids(handler, f"Observation?code:not-in={LOINC_SUBSET}") == {o["id"] for o in observations} - inside


@pytest.mark.parametrize("query, code", [
    ("Condition?code:in=https://example.org/no-such-valueset", "not-found"),
    (f"Condition?code:below={ICD10}|Q99.99.99", "not-found"),
    ("Condition?code:below=E11", "invalid"),
    ("Condition?code:in=https://evk.lv/fhir/ValueSet/icd-10", "too-costly"),   # 12,542 codes
])
def test_bad_values_are_clear_errors(handler, query, code):  # noqa: ANN001
    resp = call(handler, "GET", query)
    assert resp.status == 400
    assert resp.body["issue"][0]["code"] == code
