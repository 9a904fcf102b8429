"""``ProfileSet`` on small profiles written here, snapshots by ``tools/build_profiles.py``: the
profile features the national package does not (yet) use, and the tool refusing to loosen."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from adapters.validation import ProfileSet, invariant_compiler

TOOL = Path(__file__).resolve().parents[3] / "tools" / "build_profiles.py"
BIRTH_PLACE = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
NATIONALITY = "http://hl7.org/fhir/StructureDefinition/patient-nationality"


def _tool():  # noqa: ANN202
    spec = importlib.util.spec_from_file_location("build_profiles", TOOL)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def _profile(type_name: str, *elements: dict) -> dict:
    sd = {"resourceType": "StructureDefinition", "id": "test", "url": "http://example.org/test", "kind": "resource",
          "type": type_name, "derivation": "constraint", "differential": {"element": list(elements)}}
    sd["snapshot"] = {"element": _tool().snapshot(sd)}
    return sd


def _issues(sd: dict, resource: dict) -> set[tuple[str, str]]:
    profiles = ProfileSet([sd], invariant_compiler())
    return {(i.rule, i.expression[0]) for i in profiles.check(sd["url"], resource, resource["resourceType"])}


def test_extension_slices_are_an_allow_list() -> None:
    sd = _profile("Patient",
                  {"id": "Patient.extension", "path": "Patient.extension",
                   "slicing": {"discriminator": [{"type": "value", "path": "url"}], "rules": "closed"}},
                  {"id": "Patient.extension:birthPlace", "path": "Patient.extension", "sliceName": "birthPlace",
                   "max": "1", "type": [{"code": "Extension", "profile": [BIRTH_PLACE]}]})
    place = {"url": BIRTH_PLACE, "valueAddress": {"city": "Rīga"}}
    assert _issues(sd, {"resourceType": "Patient", "extension": [place]}) == set()
    assert _issues(sd, {"resourceType": "Patient", "extension": [place, place]}) == {
        ("profile-slice-max", "Patient.extension[1]")}
    assert _issues(sd, {"resourceType": "Patient", "extension": [
        {"url": NATIONALITY, "extension": [{"url": "code", "valueCodeableConcept": {"text": "LV"}}]}]}) == {
        ("profile-slice-unmatched", "Patient.extension[0]")}


def test_pattern_on_a_coding_and_a_fixed_uri() -> None:
    sd = _profile("Observation",
                  {"id": "Observation.code.coding", "path": "Observation.code.coding", "min": 1,
                   "patternCoding": {"system": "http://loinc.org"}},
                  {"id": "Observation.value[x]", "path": "Observation.value[x]", "type": [{"code": "Quantity"}]},
                  {"id": "Observation.value[x].system", "path": "Observation.value[x].system",
                   "fixedUri": "http://unitsofmeasure.org"})
    good = {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "valueQuantity": {"value": 72, "system": "http://unitsofmeasure.org", "code": "/min"}}
    assert _issues(sd, good) == set()
    bad = {**good, "code": {"coding": [{"system": "http://snomed.info/sct", "code": "364075005"}]},
           "valueQuantity": {"value": 72, "system": "http://example.org/units", "code": "bpm"}}
    assert _issues(sd, bad) == {("profile-pattern", "Observation.code.coding[0]"),
                                ("profile-fixed-system", "Observation.valueQuantity.system")}
    as_text = {k: v for k, v in good.items() if k != "valueQuantity"} | {"valueString": "72"}
    assert _issues(sd, as_text) == {("profile-type", "Observation.valueString")}


@pytest.mark.parametrize("element, problem", [
    ({"id": "Patient.gender", "path": "Patient.gender", "max": "*"}, "loosens"),
    ({"id": "Patient.name", "path": "Patient.name", "max": "2"} | {"min": 0}, None),
    ({"id": "Observation.status", "path": "Observation.status", "min": 0}, "loosens"),
    ({"id": "Observation.value[x]", "path": "Observation.value[x]", "type": [{"code": "Money"}]}, "not all in"),
])
def test_the_tool_refuses_to_loosen_the_base(element, problem) -> None:  # noqa: ANN001
    type_name = element["path"].split(".")[0]
    if problem is None:
        _profile(type_name, element)
        return
    with pytest.raises(ValueError, match=problem):
        _profile(type_name, element)
