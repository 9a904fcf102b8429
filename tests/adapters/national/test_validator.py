"""``NationalValidator``: which rules apply to every write and which to national submissions,
and zero false rejections of the Synthea data, the official R4 examples and the IPS examples."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.national import NationalValidator
from adapters.national.package import registered_systems, profiles
from ehr_core.service import _default_validator

from .submissions import PATIENT_PROFILE, patient

TESTDATA = Path("/work/shared/testdata")
FILES = (sorted((TESTDATA / "synthea").rglob("*.json")) + sorted((TESTDATA / "hl7-r4-examples").glob("*.json"))
         + sorted(p for p in (TESTDATA / "ips").rglob("*.json") if "error" not in p.name))


@pytest.fixture(scope="module")
def default() -> NationalValidator:
    return _default_validator()


def errors(validator: NationalValidator, resource: dict) -> set[tuple[str, str]]:
    return {(i.rule, i.expression[0]) for i in validator.validate(resource) if i.severity == "error"}


def test_the_service_wires_the_national_validator(default) -> None:  # noqa: ANN001
    assert isinstance(default, NationalValidator) and default.enforce == "claimed"


def test_package_data() -> None:
    assert "https://evk.lv/fhir/sid/personas-kods" in registered_systems()
    assert profiles()[PATIENT_PROFILE] == "Patient"


def test_unclaimed_resources_get_only_the_every_write_rules(default) -> None:  # noqa: ANN001
    p = patient(meta={"versionId": "1"})
    p["identifier"].append({"system": "http://hospital.example/mrn", "value": "1"})
    assert errors(default, p) == set()
    p["identifier"].append({"system": "https://evk.lv/fhir/sid/personas-kods", "value": "161175-19998"})
    assert errors(default, p) == {("evk-pc-check-digit", "Patient.identifier[2].value"),
                                  ("evk-pc-cardinality", "Patient.identifier[2]")}


def test_a_profile_claim_makes_a_national_submission(default) -> None:  # noqa: ANN001
    p = patient(meta={"profile": [PATIENT_PROFILE], "versionId": "1"})
    p["identifier"].append({"system": "http://hospital.example/mrn", "value": "1"})
    assert errors(default, p) == {("evk-id-system-unregistered", "Patient.identifier[1].system"),
                                  ("evk-server-owned", "Patient.meta.versionId")}


def test_wrong_reference_type_is_a_warning_outside_submissions(default) -> None:  # noqa: ANN001
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": "Practitioner/1"}}
    assert [(i.severity, i.rule) for i in default.validate(obs)] == [("warning", "evk-ref-type")]
    assert errors(NationalValidator(default.structure, enforce="all"), obs) == {
        ("evk-ref-type", "Observation.subject.reference")}


@pytest.mark.skipif(not TESTDATA.exists(), reason="shared test data not mounted")
def test_no_false_rejections_of_real_data(default) -> None:  # noqa: ANN001
    bad = []
    for path in FILES:
        try:
            resource = json.loads(path.read_text())
        except ValueError:
            continue
        if isinstance(resource, dict) and "resourceType" in resource:
            found = {(i.rule, i.expression[0]) for i in default.national(resource, resource["resourceType"])
                     if i.severity == "error"}
            if found:
                bad.append((path.name, sorted(found)[:3]))
    for path in sorted((TESTDATA / "synthea").rglob("*.ndjson")):
        for line in path.read_text().splitlines():
            r = json.loads(line)
            if any(i.severity == "error" for i in default.national(r, r["resourceType"])):
                bad.append((path.name, r.get("id")))
    assert len(FILES) > 600 and not bad, bad[:10]


def test_ips_error_fixture_is_refused_in_submissions(default) -> None:  # noqa: ANN001
    path = TESTDATA / "ips" / "au-ps" / "test-fixtures" / "recommended-error-unresolved-ref-bundle.json"
    if not path.exists():
        pytest.skip("IPS fixtures not mounted")
    bundle = json.loads(path.read_text())
    where = "Bundle.entry[0].resource.section[0].entry[1].reference"
    assert ("evk-ref-unresolved", where) in errors(NationalValidator(default.structure, enforce="all"), bundle)
    assert ("warning", "evk-ref-unresolved", (where,)) in {(i.severity, i.rule, i.expression)
                                                           for i in default.validate(bundle)}


def test_the_package_is_served_read_only(handler) -> None:  # noqa: ANN001
    from tests.utils.fhir import call
    sd = call(handler, "GET", "StructureDefinition/evk-patient")
    assert sd.status == 200 and sd.body["url"] == PATIENT_PROFILE
    ns = call(handler, "GET", "NamingSystem/evk-personas-kods")
    assert ns.body["uniqueId"][0]["value"] == "https://evk.lv/fhir/sid/personas-kods"
    assert call(handler, "DELETE", "StructureDefinition/evk-patient").status == 405
    assert call(handler, "PUT", "StructureDefinition/evk-patient", sd.body).status == 405


def test_the_package_is_valid_fhir(default) -> None:  # noqa: ANN001
    from adapters.national.package import resources
    for r in resources():
        assert errors(default, r) == set(), r["id"]


def test_module_doctests() -> None:
    import doctest

    from adapters.national import codes, icd10, personal_code
    for module in (codes, icd10, personal_code):
        assert doctest.testmod(module).failed == 0, module.__name__
