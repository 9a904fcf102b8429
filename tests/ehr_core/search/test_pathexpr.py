"""The native FHIRPath subset (ehr_core.search.pathexpr), checked against fhirpathpy where both apply."""
from __future__ import annotations

import fhirpathpy
import pytest
from fhirpathpy.models import models

from ehr_core.search.elements import element_type
from ehr_core.search.pathexpr import Unsupported, compile_path

OBS = {
    "resourceType": "Observation", "id": "o1", "status": "final",
    "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}, {"system": "urn:x", "code": "s"}]},
    "subject": {"reference": "Patient/p1"},
    "performer": [{"reference": "Practitioner/d1"}, {"reference": "http://x.org/fhir/Patient/p2"},
                  {"type": "Patient", "identifier": {"value": "9"}}, {"reference": "#c1"}],
    "valueQuantity": {"value": 120, "unit": "mmHg"},
    "component": [{"code": {"text": "a"}, "valueString": "x"}, {"code": {"text": "b"}, "valueQuantity": {"value": 1}}],
    "extension": [{"url": "urn:e1", "valueBoolean": True}, {"url": "urn:e2", "valueString": "two"}],
}
PATIENT = {"resourceType": "Patient", "telecom": [{"system": "phone", "value": "1"}, {"system": "email", "value": "a@b"},
                                                  {"system": "phone", "value": "2"}],
           "name": [{"given": ["A", "B"]}, {"given": ["C"]}], "deceasedBoolean": False}


def run(expression: str, resource: dict) -> list:
    return [v for v, _ in compile_path(expression).evaluate(resource, element_type(resource["resourceType"]))]


def types(expression: str, resource: dict) -> list[str]:
    return [t.name for _, t in compile_path(expression).evaluate(resource, element_type(resource["resourceType"]))]


def reference(expression: str, resource: dict) -> list:
    fn = fhirpathpy.compile(expression, model=models["r4"])
    return fn(resource, None)


@pytest.mark.parametrize("expression, resource", [
    ("Observation.code.coding.code", OBS),
    ("Observation.value.ofType(Quantity)", OBS),
    ("(Observation.value as Quantity).value", OBS),
    ("Observation.component.value.ofType(string)", OBS),
    ("Observation.code | Observation.component.code", OBS),
    ("Observation.extension.where(url = 'urn:e2').value", OBS),
    ("Observation.component[1].code.text", OBS),
    ("Observation.component.code.text.first()", OBS),
    ("Patient.telecom.where(system='phone')", PATIENT),
    ("Patient.telecom.where(system != 'phone').value", PATIENT),
    ("Patient.name.given", PATIENT),
    ("Patient.deceased.exists() and Patient.deceased != false", PATIENT),
    ("Patient.telecom.exists(system = 'email')", PATIENT),
    ("Patient.telecom.where(system = 'fax').empty()", PATIENT),
    ("Patient.name.count()", PATIENT),
])
def test_agrees_with_fhirpathpy(expression, resource):
    assert run(expression, resource) == reference(expression, resource)


def test_values_carry_their_fhir_types():
    assert types("Observation.code", OBS) == ["CodeableConcept"]
    assert types("Observation.value", OBS) == ["Quantity"]
    assert types("Observation.component.value", OBS) == ["string", "Quantity"]
    assert types("Observation.status", OBS) == ["code"]
    assert types("Observation.component", OBS) == ["BackboneElement"] * 2


def test_resolve_is_type_by_reference_string_or_type():
    got = run("Observation.performer.where(resolve() is Patient)", OBS)
    assert got == [OBS["performer"][1], OBS["performer"][2]]
    assert run("Observation.subject.where(resolve() is Patient)", OBS) == [OBS["subject"]]
    assert run("Observation.subject.where(resolve() is Group)", OBS) == []


def test_extension_function_and_variables():
    assert run("Observation.extension('urn:e1').value", OBS) == [True]
    assert run("Observation.code.coding.where($this.system = 'urn:x').code", OBS) == ["s"]
    assert run("Observation.component.where(%resource.status = 'final').code.text", OBS) == ["a", "b"]


def test_is_a_follows_base_types():
    cond = {"resourceType": "Condition", "onsetAge": {"value": 3}}
    assert types("Condition.onset.ofType(Quantity)", cond) == ["Age"]
    assert run("Condition.onset is Age", cond) == [True]
    assert run("Condition.onset.ofType(DateTime)", {"resourceType": "Condition", "onsetDateTime": "2020"}) == ["2020"]


def test_contained_resources_take_their_own_type():
    b = {"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Composition", "id": "c"}}]}
    assert types("Bundle.entry[0].resource", b) == ["Composition"]
    assert types("Bundle.entry.resource.ofType(Patient)", b) == []


def test_entry_names_allow_skipping_absent_roots():
    assert compile_path("Observation.value.ofType(Quantity) | Observation.component.code").entry_names == \
        {"value", "component"}
    assert compile_path("Observation.subject.where(resolve() is Patient)").entry_names == {"subject"}
    assert compile_path("Patient.deceased.exists() and Patient.deceased != false").entry_names is None
    assert compile_path("Observation").entry_names is None


@pytest.mark.parametrize("expression", [
    "Patient.name.select(given)", "Patient.birthDate < @2020", "Patient.name.given + 'x'",
    "Patient.name.where(given in ('a'))", "%vs.contains('x')", "Patient.name.ofType(NoSuchType)",
    "Patient.name.given.substring(1)", "Patient.name[given]",
])
def test_unsupported_constructs_are_reported_at_compile_time(expression):
    with pytest.raises(Unsupported):
        compile_path(expression)
