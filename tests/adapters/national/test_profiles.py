"""The national profiles, one data category at a time: an official HL7 R4 or IPS example (the
``hl7-r4-examples`` and ``ips`` folders of /work/shared/testdata, CC0; see their PROVENANCE.md)
adapted to the national standard — what was changed is spelled out in each ``adapt`` — is accepted when it
claims the profile, and each listed defect is refused with the rule id at the exact element.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.national import NationalValidator
from adapters.national.package import PROFILE_BASE, compiled_profiles, of_type

EXAMPLES = Path("/work/shared/testdata/hl7-r4-examples")
IPS = Path("/work/shared/testdata/ips")
ICD10, LOINC, SCT, ATC, UCUM = ("http://hl7.org/fhir/sid/icd-10", "http://loinc.org", "http://snomed.info/sct",
                                "http://www.whocc.no/atc", "http://unitsofmeasure.org")
PRACTITIONER = {"reference": "Practitioner/f201"}

pytestmark = pytest.mark.skipif(not EXAMPLES.exists(), reason="shared test data not mounted")


def _condition(r: dict) -> None:
    """Condition-f201 (fever): ICD-10 R50.9 instead of SNOMED CT, the identifier's system named."""
    r["code"] = {"coding": [{"system": ICD10, "code": "R50.9", "display": "Fever, unspecified"}]}
    r["identifier"][0]["system"] = "urn:ietf:rfc:3986"
    r["identifier"][0]["value"] = "urn:oid:1.2.3.4.5"


def _medication_request(r: dict) -> None:
    """MedicationRequest-medrx0302: the contained Medication referenced as before; doses in UCUM
    (the example uses SNOMED CT units for "tablet"; UCUM's {tbl} annotation instead)."""
    for dosage in r["dosageInstruction"]:
        for dr in dosage["doseAndRate"]:
            dr["doseQuantity"] = {"value": dr["doseQuantity"]["value"], "unit": "tablet", "system": UCUM,
                                  "code": "{tbl}"}


def _dispense(r: dict) -> None:
    """MedicationDispense-meddisp008: the quantity and hand-over time a pharmacy records."""
    r["quantity"] = {"value": 60, "system": UCUM, "code": "{tbl}"}
    r["whenHandedOver"] = "2015-01-15T10:20:00Z"


def _lab(r: dict) -> None:
    """Observation-f001 (glucose): category laboratory."""
    r["category"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                  "code": "laboratory"}]}]


def _lab_report(r: dict) -> None:
    """DiagnosticReport-f201 (CT brain): a LOINC code and the LAB category instead of the
    example's radiology ones, no results (they are not lab Observations)."""
    r["category"] = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0074", "code": "LAB"}]}]
    r["code"] = {"coding": [{"system": LOINC, "code": "24323-8", "display": "Comprehensive metabolic panel"}]}
    r.pop("result", None)


def _imaging(r: dict) -> None:
    """ImagingStudy-example: the study-level modality."""
    r["modality"] = [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "CT"}]


def _imaging_report(r: dict) -> None:
    """DiagnosticReport-ultrasound: the ImagingStudy it reads."""
    r["imagingStudy"] = [{"reference": "ImagingStudy/example"}]


def _immunization(r: dict) -> None:
    """IPS Immunization-75680 (DTaP-IPV booster): the Belgian CNK product code dropped (ATC and
    SNOMED CT only)."""
    r["vaccineCode"]["coding"] = [c for c in r["vaccineCode"]["coding"] if c["system"] in (ATC, SCT)]


def _referral(r: dict) -> None:
    """ServiceRequest-example: who referred, when, to which institution, why in ICD-10."""
    r["category"] = [{"coding": [{"system": "https://evk.lv/fhir/CodeSystem/referral-type", "code": "konsultacija"}]}]
    r.update(authoredOn="2026-11-20", requester=PRACTITIONER, performer=[{"reference": "Organization/1"}],
             reasonCode=[{"coding": [{"system": ICD10, "code": "I10", "display": "Essential hypertension"}]}])


def _discharge(r: dict) -> None:
    """Composition-example: the discharge summary's LOINC type; sections by LOINC already."""
    r["type"] = {"coding": [{"system": LOINC, "code": "18842-5", "display": "Discharge summary"}]}


def _sick_leave(r: dict) -> None:
    """Composition-example: the certificate type (A), the incapacity period as event.period."""
    r["type"] = {"coding": [{"system": "https://evk.lv/fhir/CodeSystem/sick-leave-type", "code": "A"}]}
    r["event"] = [{"period": {"start": "2026-11-20", "end": "2026-11-27"}}]


def _screening(r: dict) -> None:
    """Observation-f001 (glucose) as a result of a screening programme's ServiceRequest."""
    r["basedOn"] = [{"reference": "ServiceRequest/example"}]


def _unchanged(r: dict) -> None:
    """Taken as it is."""


def _set(path: str, value: object) -> Callable[[dict], None]:
    """A defect: set the element at the dotted ``path`` (list indices as numbers) to ``value``
    (None removes it)."""
    def mutate(r: dict) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node = r
        for p in parents:
            node = node[p]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return mutate


def _medication_as_a_code(r: dict) -> None:
    """A defect: the medicine as a bare code, without the evk-medication (ATC, dose form)."""
    del r["medicationReference"], r["contained"]
    r["medicationCodeableConcept"] = {"coding": [{"system": ATC, "code": "J01XA01"}]}


# profile -> (example file, adaptation, [(defect, rule, expression)])
CASES = {
    "evk-condition": ("Condition-f201.json", _condition, [
        (_set("code.coding.0.system", SCT), "profile-fixed-system", "Condition.code.coding[0].system"),
        (_set("clinicalStatus", None), "profile-min", "Condition.clinicalStatus"),
        (_set("subject", {"reference": "Group/1"}), "profile-reference-type", "Condition.subject.reference"),
    ]),
    "evk-allergyintolerance": ("AllergyIntolerance-example.json", _unchanged, [
        (_set("criticality", None), "profile-min", "AllergyIntolerance.criticality"),
        (_set("code.coding.0.system", "http://www.nlm.nih.gov/research/umls/rxnorm"), "profile-fixed-system",
         "AllergyIntolerance.code.coding[0].system"),
    ]),
    "evk-procedure": ("Procedure-f201.json", _unchanged, [
        (_set("performedPeriod", None), "profile-min", "Procedure.performed[x]"),
    ]),
    "evk-medication": ("ips-2.0.0/examples/Medication-eumfh-39-07-1.json", _unchanged, [
        (_set("code.coding.1.system", "http://www.whocc.no/atc/ddd"), "profile-slice-min", "Medication.code.coding"),
        (_set("code.coding.1.code", "C10AA"), "profile-binding", "Medication.code.coding[1].code"),
        (_set("form", None), "profile-min", "Medication.form"),
    ]),
    "evk-medicationrequest": ("MedicationRequest-medrx0302.json", _medication_request, [
        (_set("intent", "plan"), "profile-fixed", "MedicationRequest.intent"),
        (_set("dosageInstruction.0.doseAndRate.0.doseQuantity.system", SCT), "profile-fixed-system",
         "MedicationRequest.dosageInstruction[0].doseAndRate[0].doseQuantity.system"),
        (_set("dosageInstruction.0.timing", None), "profile-min", "MedicationRequest.dosageInstruction[0].timing"),
        (_medication_as_a_code, "profile-type", "MedicationRequest.medicationCodeableConcept"),
    ]),
    "evk-medicationdispense": ("MedicationDispense-meddisp008.json", _dispense, [
        (_set("authorizingPrescription", None), "profile-min", "MedicationDispense.authorizingPrescription"),
        (_set("subject", None), "profile-min", "MedicationDispense.subject"),
    ]),
    "evk-sick-leave": ("Composition-example.json", _sick_leave, [
        (_set("event", None), "profile-min", "Composition.event"),
        (_set("type.coding.0.code", "C"), "profile-binding", "Composition.type.coding[0].code"),
        (_set("extension", [{"url": "http://hl7.org/fhir/StructureDefinition/workflow-supportingInfo",
                             "valueReference": {"reference": "Organization/employer"}}]),
         "profile-max", "Composition.extension"),
    ]),
    "evk-observation-lab": ("Observation-f001.json", _lab, [
        (_set("category", None), "profile-min", "Observation.category"),
        (_set("code.coding.0.system", "http://acme.org/lab"), "profile-slice-min", "Observation.code.coding"),
        (_set("valueQuantity.system", "http://acme.org/units"), "evk-lab-ucum", "Observation"),
    ]),
    "evk-diagnosticreport-lab": ("DiagnosticReport-f201.json", _lab_report, [
        (_set("category.0.coding.0.code", "RAD"), "profile-slice-min", "DiagnosticReport.category"),
        (_set("issued", None), "profile-min", "DiagnosticReport.issued"),
    ]),
    "evk-imagingstudy": ("ImagingStudy-example.json", _imaging, [
        (_set("identifier.0.system", "urn:ietf:rfc:3986"), "profile-slice-min", "ImagingStudy.identifier"),
        (_set("series.0.modality.system", "http://acme.org/modality"), "profile-fixed-system",
         "ImagingStudy.series[0].modality.system"),
    ]),
    "evk-diagnosticreport-imaging": ("DiagnosticReport-ultrasound.json", _imaging_report, [
        (_set("conclusion", None), "profile-min", "DiagnosticReport.conclusion"),
        (_set("category", None), "profile-slice-min", "DiagnosticReport.category"),
    ]),
    "evk-immunization": ("ips-1.1.0/examples/Immunization-75680.json", _immunization, [
        (_set("lotNumber", None), "profile-min", "Immunization.lotNumber"),
        (_set("vaccineCode.coding.0.system", "https://cnk.apb.be/codings/cnk_product_codes"),
         "profile-fixed-system", "Immunization.vaccineCode.coding[0].system"),
        (_set("occurrenceString", "last spring"), "profile-type", "Immunization.occurrenceString"),
    ]),
    "evk-servicerequest-referral": ("ServiceRequest-example.json", _referral, [
        (_set("intent", "proposal"), "profile-fixed", "ServiceRequest.intent"),
        (_set("category.0.coding.0.code", "kosmetika"), "profile-binding", "ServiceRequest.category[0].coding[0].code"),
        (_set("performer", [{"reference": "Practitioner/1"}]), "profile-reference-type",
         "ServiceRequest.performer[0].reference"),
    ]),
    "evk-composition-discharge": ("Composition-example.json", _discharge, [
        (_set("type.coding.0.code", "11488-4"), "profile-pattern", "Composition.type"),
        (_set("contained", [{"resourceType": "Condition", "id": "c", "subject": {"reference": "Patient/xcda"}}]),
         "profile-max", "Composition.contained"),
    ]),
    "evk-observation-bloodgroup": ("Observation-bloodgroup.json", _unchanged, [
        (_set("valueCodeableConcept.coding.0.code", "165747007"), "evk-bloodgroup-abo", "Observation"),
        (_set("code.coding.0.code", "882-1"), "profile-slice-unmatched", "Observation.code.coding[0]"),
    ]),
    "evk-observation-screening": ("Observation-f001.json", _screening, [
        (_set("basedOn", [{"reference": "CarePlan/1"}]), "profile-reference-type", "Observation.basedOn[0].reference"),
    ]),
}


@pytest.fixture(scope="module")
def validator() -> NationalValidator:
    return NationalValidator()


def _example(profile: str) -> dict:
    name, adapt, _ = CASES[profile]
    resource = json.loads((IPS / name if name.startswith("ips-") else EXAMPLES / name).read_text())
    adapt(resource)
    resource.setdefault("meta", {})["profile"] = [PROFILE_BASE + profile]
    return resource


def _errors(validator: NationalValidator, resource: dict) -> set[tuple[str, str]]:
    return {(i.rule, i.expression[0]) for i in validator.validate(resource) if i.severity == "error"}


def test_every_data_category_profile_has_a_case() -> None:
    categories = {sd["id"] for sd in of_type("StructureDefinition")} - {"evk-patient", "evk-practitioner",
                                                                        "evk-organization"}
    assert categories == set(CASES)


@pytest.mark.parametrize("profile", sorted(CASES))
def test_the_adapted_example_conforms(validator, profile) -> None:  # noqa: ANN001
    assert _errors(validator, _example(profile)) == set()


@pytest.mark.parametrize("profile, defect, rule, expression",
                         [(p, d, r, e) for p, (_, _, defects) in sorted(CASES.items()) for d, r, e in defects])
def test_a_defect_is_refused(validator, profile, defect, rule, expression) -> None:  # noqa: ANN001
    resource = _example(profile)
    defect(resource)
    found = _errors(validator, resource)
    assert (rule, expression) in found, found


def test_the_unadapted_example_is_not_national(validator) -> None:  # noqa: ANN001
    """The official example as it is (SNOMED CT fever) is refused by evk-condition, and accepted
    when it does not claim the profile."""
    resource = json.loads((EXAMPLES / "Condition-f201.json").read_text())
    assert not {r for r, _ in _errors(validator, resource)} & {"profile-fixed-system", "profile-slice-min"}
    resource["meta"] = {"profile": [PROFILE_BASE + "evk-condition"]}
    assert ("profile-slice-min", "Condition.code.coding") in _errors(validator, resource)


def test_the_messages_are_bilingual(validator) -> None:  # noqa: ANN001
    resource = _example("evk-condition")
    del resource["verificationStatus"]
    [found] = [i for i in validator.validate(resource) if i.rule == "profile-min"]
    assert found.code == "required" and "evk-condition" in found.diagnostics and "Profils" in found.message_lv


def test_bindings_are_checked_when_the_terminology_answers() -> None:
    member = lambda value_set, system, code: code.startswith("R")  # noqa: E731 - a stand-in terminology
    resource = _example("evk-condition")
    resource["code"]["coding"][0]["code"] = "I10"
    issues = NationalValidator(member=member).validate(resource)
    assert ("profile-binding", "Condition.code.coding[0].code") in {(i.rule, i.expression[0]) for i in issues}


def test_snapshots_are_generated_and_compiled() -> None:
    import subprocess
    import sys
    tool = Path(__file__).resolve().parents[3] / "tools" / "build_profiles.py"
    assert subprocess.run([sys.executable, str(tool), "--check"], capture_output=True).returncode == 0
    assert len(compiled_profiles().rules) == len(of_type("StructureDefinition"))


def test_profiles_are_copied_not_shared(validator) -> None:  # noqa: ANN001
    """Checking never modifies the resource it is given."""
    resource = _example("evk-medicationrequest")
    before = copy.deepcopy(resource)
    validator.validate(resource)
    assert resource == before
