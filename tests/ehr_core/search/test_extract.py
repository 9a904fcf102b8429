"""Index extraction (ehr_core.search.extract) on the official R4 examples and the Synthea data."""
from __future__ import annotations

import copy
import time
from functools import lru_cache
from pathlib import Path

import orjson
import pytest

from ehr_core import definitions
from ehr_core.search.extract import IndexExtractor
from ehr_core.search.normalize import HIGH_UNBOUNDED, LOW_UNBOUNDED, date_range
from ehr_core.search.registry import Registry
from ehr_core.storage import schema

TESTDATA = Path(__file__).resolve().parents[4] / "shared" / "testdata"
SYNTHEA = TESTDATA / "synthea" / "smart-r4-synthea-2019" / "patients"
EXAMPLES = TESTDATA / "hl7-r4-examples"
UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"


@pytest.fixture(scope="module")
def ex() -> IndexExtractor:
    return IndexExtractor(strict=True)


def example(name: str) -> dict:
    return orjson.loads((EXAMPLES / f"{name}.json").read_bytes())


@lru_cache(maxsize=1)
def synthea_resources() -> tuple[dict, ...]:
    out = []
    for f in sorted(SYNTHEA.glob("*.json")):
        out += [e["resource"] for e in orjson.loads(f.read_bytes())["entry"]]
    return tuple(out)


def example_resources() -> list[dict]:
    out = []
    for f in sorted(EXAMPLES.glob("*.json")):
        r = orjson.loads(f.read_bytes())
        out.append(r)
        if r.get("resourceType") == "Bundle":
            out += [e["resource"] for e in r.get("entry", ()) if "resource" in e]
    return out


def rows(ex: IndexExtractor, resource: dict, table: str, param: str) -> list[tuple]:
    """The rows of one parameter as tuples of the table's value columns, in column order."""
    return [tuple(v for k, v in r.items() if k != "param") for r in ex.extract(resource)[table] if r["param"] == param]


def day(value: str) -> tuple[float, float]:
    return date_range(value)


# --- compilation -------------------------------------------------------------------------------

def test_every_r4_expression_compiles_natively(ex):
    s = ex.stats
    assert s.fallback_expressions == 0 and s.fallback_params == 0 and not s.failed
    assert s.native_expressions > 1600 and s.native_params > 2200
    # only the three-component MolecularSequence coordinates do not fit sp_composite
    assert {(rt, n) for rt, _, n in s.skipped} == {("MolecularSequence", "3 components")}


def test_unsupported_expressions_fall_back_to_fhirpathpy():
    params = [{"url": "urn:x:given-select", "code": "given-select", "base": ["Patient"], "type": "string",
               "expression": "Patient.name.select(given) | Patient.contact.name"}]
    ex = IndexExtractor(Registry(params), strict=True)
    assert (ex.stats.native_params, ex.stats.fallback_params) == (0, 1)
    patient = {"resourceType": "Patient", "name": [{"given": ["Ēva", "Anna"]}],
               "contact": [{"name": {"family": "Kalniņa"}}]}
    before = copy.deepcopy(patient)
    got = rows(ex, patient, "string", "given-select")
    assert got == [("eva", "Ēva"), ("anna", "Anna"), ("kalnina", "Kalniņa")]   # the HumanName keeps its type
    assert patient == before


def test_custom_extension_parameter_runs_natively():
    url = "http://hl7.org/fhir/StructureDefinition/patient-birthPlace"
    params = [{"url": "urn:x:birthplace", "code": "birthplace", "base": ["Patient"], "type": "string",
               "expression": f"Patient.extension('{url}').value"}]
    ex = IndexExtractor(Registry(params), strict=True)
    assert ex.stats.fallback_params == 0
    patient = {"resourceType": "Patient", "extension": [
        {"url": url, "valueAddress": {"city": "Rīga", "country": "LV"}},
        {"url": "http://other", "valueString": "not this"}]}
    assert rows(ex, patient, "string", "birthplace") == [("riga", "Rīga"), ("lv", "LV")]


# --- robustness on real data -------------------------------------------------------------------

def test_all_examples_and_synthea_extract_without_error(ex):
    value_columns = {k: {c.name for c in t.columns} - {"resource_type", "resource_id"} for k, t in
                     schema.INDEX_TABLES.items()}
    limits = {k: {c.name: c.type.length for c in t.columns if getattr(c.type, "length", None)
                  and c.name in value_columns[k]} for k, t in schema.INDEX_TABLES.items()}
    resources = [*synthea_resources(), *example_resources()]
    assert len(resources) > 5000
    total = 0
    for r in resources:
        out = ex.extract(r)
        assert out.keys() == schema.INDEX_TABLES.keys()
        for kind, found in out.items():
            assert len(found) == len({tuple(row.values()) for row in found}), "rows are deduplicated"
            for row in found:
                assert row.keys() == value_columns[kind]
                for col, limit in limits[kind].items():
                    assert row[col] is None or len(row[col]) <= limit
            total += len(found)
    assert total > 40_000


def test_extraction_speed_on_synthea(ex):
    resources = synthea_resources()
    start = time.perf_counter()
    for r in resources:
        ex.extract(r)
    per_resource = (time.perf_counter() - start) / len(resources)
    # ~70 µs on an idle core; the bound only catches a pathological regression on a busy CI box
    assert per_resource < 1e-3


# --- string ------------------------------------------------------------------------------------

def test_patient_name_rows(ex):
    p = example("Patient-example")
    assert rows(ex, p, "string", "family") == [("chalmers", "Chalmers"), ("windsor", "Windsor")]
    assert rows(ex, p, "string", "given") == [("peter", "Peter"), ("james", "James"), ("jim", "Jim")]
    assert set(rows(ex, p, "string", "name")) == {
        ("chalmers", "Chalmers"), ("peter", "Peter"), ("james", "James"), ("jim", "Jim"), ("windsor", "Windsor")}
    assert ("534 erewhon st", "534 Erewhon St") in rows(ex, p, "string", "address")
    assert rows(ex, p, "string", "address-city") == [("pleasantville", "PleasantVille")]


def test_accented_names_are_normalised(ex):
    mejia = next(r for r in synthea_resources() if r["resourceType"] == "Patient"
                 and r["name"][0]["family"] == "Mejía")
    assert rows(ex, mejia, "string", "family") == [("mejia", "Mejía")]
    p = {"resourceType": "Patient", "name": [{"family": "BĒRZIŅŠ", "given": ["  Jānis  Pēteris "]}]}
    assert rows(ex, p, "string", "name") == [("berzins", "BĒRZIŅŠ"), ("janis peteris", "  Jānis  Pēteris ")]


def test_narrative_text(ex):
    p = example("Patient-example")
    [(norm, exact)] = rows(ex, p, "string", "_text")
    assert exact.startswith('Name Peter James Chalmers ("Jim") Address 534 Erewhon')
    assert norm == exact.casefold()


# --- token -------------------------------------------------------------------------------------

def test_patient_tokens(ex):
    p = example("Patient-example")
    assert rows(ex, p, "token", "gender") == [(None, "male", None)]
    assert rows(ex, p, "token", "active") == [(None, "true", None)]
    assert rows(ex, p, "token", "deceased") == [(None, "false", None)]
    assert rows(ex, p, "token", "identifier") == [("urn:oid:1.2.36.146.595.217.0.1", "12345", None)]
    assert rows(ex, p, "token", "identifier:of-type") == [
        ("http://terminology.hl7.org/CodeSystem/v2-0203", "MR|12345", None)]
    assert rows(ex, p, "token", "phone") == [(None, "(03) 5555 6473", None), (None, "(03) 3410 5613", None),
                                             (None, "(03) 5555 8834", None)]
    assert rows(ex, p, "token", "email") == []


def test_identifier_type_text_and_deceased_datetime(ex):
    mejia = next(r for r in synthea_resources() if r["resourceType"] == "Patient"
                 and r["name"][0]["family"] == "Mejía")
    assert ("http://hl7.org/fhir/sid/us-ssn", "999-68-8566", "social security number") in \
        rows(ex, mejia, "token", "identifier")
    assert ("http://terminology.hl7.org/CodeSystem/v2-0203", "SS|999-68-8566", None) in \
        rows(ex, mejia, "token", "identifier:of-type")
    dead = dict(mejia, deceasedDateTime="2019-01-01T00:00:00Z")
    dead.pop("deceasedBoolean", None)
    assert rows(ex, dead, "token", "deceased") == [(None, "true", None)]


def test_codeable_concept_codings_and_text(ex):
    o = example("Observation-blood-pressure")
    assert rows(ex, o, "token", "code") == [
        (LOINC, "85354-9", "blood pressure panel with all children optional"),
        (None, None, "blood pressure systolic & diastolic")]
    # a text that equals a coding's display adds no row of its own
    cc = {"resourceType": "Observation", "code": {"coding": [{"system": LOINC, "code": "1", "display": "Ab"}],
                                                 "text": "AB"}}
    assert rows(ex, cc, "token", "code") == [(LOINC, "1", "ab")]


def test_meta_tag_security_profile_source(ex):
    r = {"resourceType": "Observation", "meta": {
        "tag": [{"system": "urn:t", "code": "a", "display": "Tag A"}],
        "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
        "profile": ["http://hl7.org/fhir/StructureDefinition/vitalsigns|4.0.1"],
        "source": "http://example.org/src#1"}}
    assert rows(ex, r, "token", "_tag") == [("urn:t", "a", "tag a")]
    assert rows(ex, r, "token", "_security") == [("http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "R", None)]
    assert rows(ex, r, "uri", "_profile") == [("http://hl7.org/fhir/StructureDefinition/vitalsigns|4.0.1",)]
    assert rows(ex, r, "uri", "_source") == [("http://example.org/src#1",)]
    out = ex.extract({**r, "id": "x", "meta": {**r["meta"], "lastUpdated": "2020-01-01T00:00:00Z"}})
    assert not any(row["param"] in ("_id", "_lastUpdated") for found in out.values() for row in found)


# --- reference ---------------------------------------------------------------------------------

def test_observation_references(ex):
    o = example("Observation-blood-pressure")
    assert rows(ex, o, "reference", "subject") == [("Patient", "example", None)]
    assert rows(ex, o, "reference", "patient") == [("Patient", "example", None)]
    assert rows(ex, o, "token", "based-on:identifier") == [("https://acme.org/identifiers", "1234", None)]


def test_absolute_reference_url(ex):
    c = example("Coverage-9876B1")
    assert rows(ex, c, "reference", "policy-holder") == [
        ("Organization", "CBI35", "http://benefitsinc.com/FHIR/Organization/CBI35")]
    hist = {"resourceType": "Observation", "subject": {"reference": "http://x.org/fhir/Patient/7/_history/3"},
            "performer": [{"reference": "http://x.org/not-a-fhir-path"}, {"reference": "Practitioner/1/_history/2"}]}
    assert rows(ex, hist, "reference", "subject") == [("Patient", "7", "http://x.org/fhir/Patient/7")]
    assert rows(ex, hist, "reference", "performer") == [(None, None, "http://x.org/not-a-fhir-path"),
                                                        ("Practitioner", "1", None)]


def test_where_resolve_is_patient(ex):
    o = {"resourceType": "Observation", "subject": {"reference": "Group/g1"}}
    assert rows(ex, o, "reference", "subject") == [("Group", "g1", None)]
    assert rows(ex, o, "reference", "patient") == []
    # no literal reference: resolve() goes by Reference.type, so patient:identifier still works
    o = {"resourceType": "Observation", "subject": {"type": "Patient", "identifier": {"system": "urn:s", "value": "9"}}}
    assert rows(ex, o, "token", "patient:identifier") == [("urn:s", "9", None)]
    assert rows(ex, o, "reference", "patient") == []


def test_contained_and_urn_uuid_references_are_skipped(ex):
    o = {"resourceType": "Observation", "subject": {"reference": "#p1"},
         "performer": [{"reference": "urn:uuid:0b2b2a3e-5c4f-4a5e-9d7a-2f0e1c3b4a5d"}]}
    assert rows(ex, o, "reference", "subject") == []
    assert rows(ex, o, "reference", "performer") == []


def test_canonical_reference_drops_version(ex):
    qr = example("QuestionnaireResponse-gcs")
    assert rows(ex, qr, "reference", "questionnaire") == [("Questionnaire", "gcs", "Questionnaire/gcs")]
    qr = {"resourceType": "QuestionnaireResponse", "questionnaire": "http://x.org/Questionnaire/q1|2.0"}
    assert rows(ex, qr, "reference", "questionnaire") == [("Questionnaire", "q1", "http://x.org/Questionnaire/q1")]


def test_bundle_composition_is_the_first_entry(ex):
    b = example("Bundle-father")
    assert rows(ex, b, "reference", "composition") == [
        ("Composition", "180f219f-97a8-486d-99d9-ed631fe4fc57", None)]


# --- date --------------------------------------------------------------------------------------

def test_observation_date(ex):
    assert rows(ex, example("Observation-example"), "date", "date") == [day("2016-03-28")]


def test_period_open_ends(ex):
    cp = example("CarePlan-example")            # period has an end only
    assert rows(ex, cp, "date", "date") == [(LOW_UNBOUNDED, day("2017-06-01")[1])]
    enc = {"resourceType": "Encounter", "period": {"start": "2020-05-01T10:00:00Z"}}
    assert rows(ex, enc, "date", "date") == [(day("2020-05-01T10:00:00Z")[0], HIGH_UNBOUNDED)]
    assert rows(ex, {"resourceType": "Encounter", "period": {}}, "date", "date") == []


def test_timing_events_and_bounds(ex):
    sr = example("ServiceRequest-benchpress")
    assert rows(ex, sr, "date", "occurrence") == []       # a repeat without events or bounds
    sr["occurrenceTiming"] = {"event": ["2021-02-03", "2021-02-05T08:00:00+02:00"],
                              "repeat": {"boundsPeriod": {"start": "2021-02-01"}}}
    assert rows(ex, sr, "date", "occurrence") == [
        day("2021-02-03"), day("2021-02-05T08:00:00+02:00"), (day("2021-02-01")[0], HIGH_UNBOUNDED)]
    cp = example("CarePlan-preg")                          # scheduledTiming.repeat.boundsPeriod
    assert (day("2013-02-14")[0], day("2013-02-28")[1]) in rows(ex, cp, "date", "activity-date")


def test_bad_dates_are_skipped(ex):
    o = {"resourceType": "Observation", "effectiveDateTime": "2020-13-45", "issued": "yesterday"}
    assert ex.extract(o)["date"] == []


# --- number and quantity -----------------------------------------------------------------------

def test_value_quantity_with_unit_row(ex):
    o = example("Observation-example")
    assert rows(ex, o, "quantity", "value-quantity") == [(UCUM, "[lb_av]", 185, 185), (None, "lbs", 185, 185)]
    no_code = {"resourceType": "Observation", "valueQuantity": {"value": 5.5, "unit": "mmol/L"}}
    assert rows(ex, no_code, "quantity", "value-quantity") == [(None, "mmol/L", 5.5, 5.5)]


def test_quantity_comparator_money_range(ex):
    o = {"resourceType": "Observation", "valueQuantity": {"value": 5, "comparator": "<", "system": UCUM, "code": "g"}}
    assert rows(ex, o, "quantity", "value-quantity") == [(UCUM, "g", LOW_UNBOUNDED, 5)]
    claim = {"resourceType": "ChargeItem", "priceOverride": {"value": 12.5, "currency": "EUR"}}
    assert rows(ex, claim, "quantity", "price-override") == [("urn:iso:std:iso:4217", "EUR", 12.5, 12.5)]
    cond = {"resourceType": "Condition", "onsetRange": {"low": {"value": 10, "unit": "a", "system": UCUM, "code": "a"}}}
    assert rows(ex, cond, "quantity", "onset-age") == [(UCUM, "a", 10, HIGH_UNBOUNDED)]
    age = {"resourceType": "Condition", "onsetAge": {"value": 52, "unit": "yr", "system": UCUM, "code": "a"}}
    assert rows(ex, age, "quantity", "onset-age") == [(UCUM, "a", 52, 52), (None, "yr", 52, 52)]


def test_number(ex):
    ra = {"resourceType": "RiskAssessment", "prediction": [{"probabilityDecimal": 0.02},
                                                          {"probabilityRange": {"high": {"value": 0.5}}}]}
    assert rows(ex, ra, "number", "probability") == [(0.02, 0.02), (LOW_UNBOUNDED, 0.5)]


# --- composite ---------------------------------------------------------------------------------

def test_code_value_quantity_uses_the_root_observation(ex):
    got = rows(ex, example("Observation-example"), "composite", "code-value-quantity")
    assert (LOINC, "29463-7", UCUM, "[lb_av]", 185, 185) in got
    assert (LOINC, "29463-7", None, "lbs", 185, 185) in got
    assert len(got) == 4 * 2                                 # four codings x (code row, unit row)


def test_component_code_value_quantity_pairs_within_each_component(ex):
    got = rows(ex, example("Observation-blood-pressure"), "composite", "component-code-value-quantity")
    assert (LOINC, "8480-6", UCUM, "mm[Hg]", 107, 107) in got
    assert (LOINC, "8462-4", UCUM, "mm[Hg]", 60, 60) in got
    assert (LOINC, "8480-6", UCUM, "mm[Hg]", 60, 60) not in got     # never across components
    assert rows(ex, example("Observation-blood-pressure"), "composite", "code-value-quantity") == []


def test_code_value_concept_and_date_and_string(ex):
    o = {"resourceType": "Observation", "code": {"coding": [{"system": LOINC, "code": "x"}]},
         "valueCodeableConcept": {"coding": [{"system": "urn:v", "code": "pos"}], "text": "Positive!"}}
    assert rows(ex, o, "composite", "code-value-concept") == [(LOINC, "x", "urn:v", "pos", None, None)]
    o2 = {**o, "valueDateTime": "2020-01-02"}
    del o2["valueCodeableConcept"]
    assert rows(ex, o2, "composite", "code-value-date") == [(LOINC, "x", None, None, *day("2020-01-02"))]
    o3 = {**o, "valueString": "Élevé"}
    del o3["valueCodeableConcept"]
    assert rows(ex, o3, "composite", "code-value-string") == [(LOINC, "x", None, "eleve", None, None)]


# --- limits and deduplication ------------------------------------------------------------------

def test_duplicates_collapse_and_overlong_values_are_skipped(ex):
    p = {"resourceType": "Patient", "name": [{"family": "Ozols"}, {"family": "OZOLS"}, {"family": "Ozols"}],
         "identifier": [{"system": "urn:s", "value": "x" * 600}, {"system": "urn:s", "value": "ok"}],
         "managingOrganization": {"reference": "http://x.org/" + "a" * 1100}}
    assert rows(ex, p, "string", "family") == [("ozols", "Ozols"), ("ozols", "OZOLS")]
    assert rows(ex, p, "token", "identifier") == [("urn:s", "ok", None)]
    assert rows(ex, p, "reference", "organization") == []


def test_malformed_values_do_not_raise(ex):
    p = {"resourceType": "Patient", "name": "Jānis", "gender": 3, "telecom": [None, "x", {"value": None}],
         "birthDate": 1990, "identifier": {"value": "single"}, "managingOrganization": {"reference": 12}}
    out = ex.extract(p)
    assert out["date"] == [] and out["reference"] == []


def test_unknown_resource_type_gives_no_rows(ex):
    assert all(v == [] for v in ex.extract({"resourceType": "NotAThing", "id": "1"}).values())


def test_params_for_lists_indexed_parameters(ex):
    got = ex.params_for("Observation")
    assert {"code", "value-quantity", "component-code-value-quantity", "_tag", "_profile", "_text"} <= got.keys()
    assert "_id" not in got and "_lastUpdated" not in got
    assert "near" not in ex.params_for("Location")
    assert set(definitions.resource_types()) - {"Parameters"} <= {
        rt for rt in definitions.resource_types() if ex.params_for(rt)}


def test_input_is_not_modified(ex):
    o = example("Observation-blood-pressure")
    before = copy.deepcopy(o)
    ex.extract(o)
    assert o == before
