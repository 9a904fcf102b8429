"""The classifier rules of the national submission tier (adapters/national/codes.py) on single
resources: ATC shape, level and existence (fragment vs complete classifier), UCUM units in every
Quantity kind, and silence outside national submissions."""
from __future__ import annotations

import json
import shutil

import pytest

from adapters.national import NationalValidator, codes
from adapters.terminology import TerminologyService
from adapters.terminology.catalog import PACKAGE, Catalog, read

ATC, UCUM = "http://www.whocc.no/atc", "http://unitsofmeasure.org"


@pytest.fixture(scope="module")
def submission() -> NationalValidator:
    return NationalValidator(enforce="all")


def issues(v: NationalValidator, resource: dict) -> set[tuple[str, str, str]]:
    return {(i.severity, i.rule, i.expression[0]) for i in v.validate(resource)
            if i.rule and (i.rule.startswith("evk-atc") or i.rule == "evk-ucum")}


def prescription(code: str) -> dict:
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/p1"},
            "medicationCodeableConcept": {"coding": [{"system": ATC, "code": code}]},
            "dosageInstruction": [{"doseAndRate": [{"doseQuantity": {"value": 1, "system": UCUM, "code": "mg"}}],
                                   "maxDosePerLifetime": {"value": 5, "system": UCUM, "code": "g"}}]}


def test_atc_shape_level_and_subset(submission) -> None:  # noqa: ANN001
    where = "MedicationRequest.medicationCodeableConcept.coding[0].code"
    assert issues(submission, prescription("L02BG03")) == set()
    assert issues(submission, prescription("L02BG")) == {("error", "evk-atc-level", where)}
    assert issues(submission, prescription("L02-BG03")) == {("error", "evk-atc-format", where)}
    # A well-formed substance the shipped subset lacks: a warning while ATC is a fragment.
    assert issues(submission, prescription("N02BE01")) == {("warning", "evk-atc-unconfirmed", where)}


def test_drug_classes_are_allowed_where_no_substance_is_required(submission) -> None:  # noqa: ANN001
    allergy = {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p1"},
               "code": {"coding": [{"system": ATC, "code": "J01CA"}]}}
    assert issues(submission, allergy) == set()


def test_a_complete_atc_version_refuses_unknown_codes(tmp_path, monkeypatch, submission) -> None:  # noqa: ANN001
    for name in ("ValueSet-atc.json", "ValueSet-atc-substance.json", "ValueSet-loinc.json",
                 "ValueSet-snomed-ct.json", "CodeSystem-loinc.json", "CodeSystem-snomed-ct.json"):
        shutil.copy(PACKAGE / name, tmp_path / name)
    licensed = read(PACKAGE / "CodeSystem-atc.json")
    licensed.update(id="atc-2027", version="2027.1", content="complete")
    (tmp_path / "CodeSystem-atc-2027.json").write_text(json.dumps(licensed))
    monkeypatch.setattr(codes, "terminology", lambda: TerminologyService(Catalog(tmp_path)))
    assert issues(submission, prescription("N02BE01")) == {
        ("error", "evk-atc-unknown", "MedicationRequest.medicationCodeableConcept.coding[0].code")}


def test_ucum_in_every_quantity_kind(submission) -> None:  # noqa: ANN001
    bad = prescription("L02BG03")
    bad["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] = "tbl"
    bad["dosageInstruction"][0]["maxDosePerLifetime"]["code"] = "mcg"
    assert issues(submission, bad) == {
        ("error", "evk-ucum", "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.code"),
        ("error", "evk-ucum", "MedicationRequest.dosageInstruction[0].maxDosePerLifetime.code")}
    age = {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
           "onsetAge": {"value": 3, "system": UCUM, "code": "years"}}
    assert issues(submission, age) == {("error", "evk-ucum", "Condition.onsetAge.code")}
    age["onsetAge"]["code"] = "a"
    assert issues(submission, age) == set()
    other = {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
             "onsetAge": {"value": 3, "system": "http://example.org/units", "code": "years"}}
    assert issues(submission, other) == set()


def test_silent_outside_national_submissions() -> None:
    every_write = NationalValidator()
    bad = prescription("L02BG")
    bad["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] = "tbl"
    assert issues(every_write, bad) == set()
