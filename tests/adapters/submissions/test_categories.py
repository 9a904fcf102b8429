"""Resources map to the standard's data categories through the package's CodeSystem."""
from __future__ import annotations

from collections import Counter

from adapters.national.package import PROFILE_BASE, profiles
from adapters.national.submissions.categories import category_of, mapping

from .synthea import synthea_bundle

OC = "http://terminology.hl7.org/CodeSystem/observation-category"
V2 = "http://terminology.hl7.org/CodeSystem/v2-0074"
CATEGORIES = ("diagnoses", "allergies", "procedures", "e-prescriptions", "dispensations", "sick-leave", "lab-results",
              "imaging", "vaccinations", "referrals", "discharge-summaries", "blood-group", "screenings")


def concept(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


def test_the_thirteen_categories_and_their_profiles_are_in_the_package() -> None:
    m = mapping()
    assert tuple(c.code for c in m.categories) == CATEGORIES
    assert set(m.by_profile.values()) == set(CATEGORIES)
    for url, category in m.by_profile.items():
        assert url.startswith(PROFILE_BASE)
        assert url in profiles(), f"{category}: {url} is not a profile of the package"


def test_a_real_synthea_bundle_by_type_and_codes() -> None:
    bundle = synthea_bundle(0)
    found = Counter((e["resource"]["resourceType"], category_of(e["resource"])) for e in bundle["entry"])
    labs = sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation"
               and e["resource"]["category"][0]["coding"][0]["code"] == "laboratory")
    assert labs and found[("Observation", "lab-results")] == labs       # vital signs and surveys: none
    assert found[("Observation", None)] > 0
    assert found[("DiagnosticReport", "lab-results")] == 1              # category v2-0074 LAB
    for rtype, category in (("Condition", "diagnoses"), ("Immunization", "vaccinations"),
                            ("MedicationRequest", "e-prescriptions"), ("Procedure", "procedures")):
        assert found[(rtype, category)] > 0 and found[(rtype, None)] == 0, rtype
    assert all(c is None for (t, c) in found if t in ("Patient", "Encounter", "Claim", "Organization"))


def test_a_claimed_profile_decides() -> None:
    obs = {"resourceType": "Observation", "meta": {"profile": [PROFILE_BASE + "evk-observation-screening|0.1.0"]},
           "category": [concept(OC, "laboratory")]}
    assert category_of(obs) == "screenings"


def test_a_code_outranks_a_category_and_a_tie_is_no_category() -> None:
    blood = {"resourceType": "Observation", "category": [concept(OC, "laboratory")],
             "code": concept("http://loinc.org", "883-9")}
    assert category_of(blood) == "blood-group"
    both = {"resourceType": "DiagnosticReport", "category": [concept(V2, "LAB"), concept(V2, "RAD")]}
    assert category_of(both) is None
    assert category_of({"resourceType": "DiagnosticReport", "category": [concept(V2, "RAD")]}) == "imaging"
    discharge = {"resourceType": "Composition", "type": concept("http://loinc.org", "18842-5")}
    assert category_of(discharge) == "discharge-summaries"
    assert category_of({"resourceType": "Composition"}) is None
    sick_leave = {"resourceType": "Composition", "type": concept("https://evk.lv/fhir/CodeSystem/sick-leave-type", "B")}
    assert category_of(sick_leave) == "sick-leave"                       # any code of the system
    assert category_of("not a resource") is None
