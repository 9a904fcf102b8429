"""The structural defects of /work/shared/standards/bad-inputs.md (#10-#13, #15-#18), wrong
choice types and bad extensions: each is refused with the rule and the exact element."""
from __future__ import annotations

import copy

import pytest


def patient(**extra: object) -> dict:
    return {"resourceType": "Patient", "id": "p1", "name": [{"family": "Bērziņa", "given": ["Anna"]}], **extra}


def observation(**extra: object) -> dict:
    base = {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
            "subject": {"reference": "Patient/p1"}}
    base.update(extra)
    return base


def test_valid_resources_have_no_issues(errors) -> None:  # noqa: ANN001
    assert errors(patient(birthDate="1975-11-16", gender="female", active=True)) == set()
    assert errors(observation(valueQuantity={"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org",
                                             "code": "/min"})) == set()


# --- #10 unknown element ----------------------------------------------------------------------
def test_unknown_element(errors) -> None:  # noqa: ANN001
    assert errors(patient(birthdate="1975-11-16")) == {("struct-unknown-element", "Patient.birthdate")}


def test_unknown_element_deep_inside(errors) -> None:  # noqa: ANN001
    p = patient()
    p["name"][0]["givenName"] = "Anna"
    assert errors(p) == {("struct-unknown-element", "Patient.name[0].givenName")}


def test_resource_type_in_a_datatype_is_unknown(errors) -> None:  # noqa: ANN001
    p = patient()
    p["name"][0]["resourceType"] = "HumanName"
    assert errors(p) == {("struct-unknown-element", "Patient.name[0].resourceType")}


# --- #11 null, [], {}, "" ---------------------------------------------------------------------
@pytest.mark.parametrize("field, value, rule", [
    ("birthDate", None, "struct-null"),
    ("birthDate", "", "struct-empty"),
    ("identifier", [], "struct-empty"),
    ("maritalStatus", {}, "struct-empty"),
    ("identifier", [None], "struct-null"),
])
def test_empty_values(errors, field, value, rule) -> None:  # noqa: ANN001
    expression = f"Patient.{field}[0]" if value == [None] else f"Patient.{field}"
    assert errors(patient(**{field: value})) == {(rule, expression)}


def test_empty_string_in_array_and_empty_object_in_array(errors) -> None:  # noqa: ANN001
    p = patient(telecom=[{}])
    p["name"][0]["given"] = ["Anna", ""]
    assert errors(p) == {("struct-empty", "Patient.name[0].given[1]"), ("struct-empty", "Patient.telecom[0]")}


def test_object_with_only_an_id_breaks_ele_1(errors) -> None:  # noqa: ANN001
    assert errors(patient(maritalStatus={"id": "x"})) == {("ele-1", "Patient.maritalStatus")}


# --- #12 wrong JSON kinds ---------------------------------------------------------------------
@pytest.mark.parametrize("field, value", [
    ("active", "true"),            # string for boolean
    ("active", 1),                 # number for boolean
    ("birthDate", 19751116),       # number for a date
    ("multipleBirthInteger", True),  # bool is not an integer, although Python thinks so
    ("multipleBirthInteger", 1.5),
    ("multipleBirthInteger", "2"),
    ("maritalStatus", "married"),  # string for an object
])
def test_wrong_json_kind(errors, field, value) -> None:  # noqa: ANN001
    assert errors(patient(**{field: value})) == {("struct-type", f"Patient.{field}")}


def test_scalar_where_array_belongs(errors) -> None:  # noqa: ANN001
    p = patient()
    p["name"] = {"family": "Bērziņa"}
    assert errors(p) == {("struct-array-expected", "Patient.name")}


def test_scalar_where_array_belongs_in_a_primitive_list(errors) -> None:  # noqa: ANN001
    p = patient()
    p["name"][0]["given"] = "Anna"
    assert errors(p) == {("struct-array-expected", "Patient.name[0].given")}


def test_array_where_single_value_belongs(errors) -> None:  # noqa: ANN001
    assert errors(patient(gender=["female"])) == {("struct-array-unexpected", "Patient.gender")}


def test_decimal_must_be_a_number(errors) -> None:  # noqa: ANN001
    obs = observation(valueQuantity={"value": "72"})
    assert errors(obs) == {("struct-type", "Observation.valueQuantity.value")}


# --- #13 mandatory base elements --------------------------------------------------------------
def test_missing_observation_status_and_code(errors) -> None:  # noqa: ANN001
    obs = observation()
    del obs["status"], obs["code"]
    assert errors(obs) == {("struct-cardinality-min", "Observation.status"),
                           ("struct-cardinality-min", "Observation.code")}


def test_missing_required_element_in_backbone(errors) -> None:  # noqa: ANN001
    p = patient(link=[{"type": "seealso"}])
    assert errors(p) == {("struct-cardinality-min", "Patient.link[0].other")}


def test_required_primitive_present_only_as_extension_counts(errors) -> None:  # noqa: ANN001
    absent = {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                             "valueCode": "unknown"}]}
    obs = observation(_status=absent)
    del obs["status"]
    assert errors(obs) == set()


# --- #15 cardinality exceeded -----------------------------------------------------------------
def test_two_values_where_one_is_allowed(errors) -> None:  # noqa: ANN001
    obs = observation()
    obs["code"] = [obs["code"], obs["code"]]
    assert errors(obs) == {("struct-array-unexpected", "Observation.code"),
                           ("struct-cardinality-max", "Observation.code")}


# --- #16, #17 dates ---------------------------------------------------------------------------
@pytest.mark.parametrize("value, rule", [
    ("16.11.1975", "struct-primitive-format"),
    ("1975-11-16T10:00:00Z", "struct-primitive-format"),   # a date has no time
    ("2024-02-30", "struct-primitive-date"),
    ("2023-02-29", "struct-primitive-date"),
    ("1975-04-31", "struct-primitive-date"),
    ("1975-13", "struct-primitive-format"),
])
def test_bad_birth_dates(errors, value, rule) -> None:  # noqa: ANN001
    assert errors(patient(birthDate=value)) == {(rule, "Patient.birthDate")}


@pytest.mark.parametrize("value", ["2024-02-29", "1975", "1975-11", "1975-11-16"])
def test_good_birth_dates(errors, value) -> None:  # noqa: ANN001
    assert errors(patient(birthDate=value)) == set()


def test_datetime_with_time_needs_timezone(errors) -> None:  # noqa: ANN001
    obs = observation(effectiveDateTime="2024-03-01T10:15:00")
    assert errors(obs) == {("struct-primitive-timezone", "Observation.effectiveDateTime")}
    assert errors(observation(effectiveDateTime="2024-03-01T10:15:00+02:00")) == set()


def test_impossible_datetime(errors) -> None:  # noqa: ANN001
    assert errors(observation(effectiveDateTime="2024-02-30T10:15:00Z")) == {
        ("struct-primitive-date", "Observation.effectiveDateTime")}


def test_instant_must_be_complete(errors) -> None:  # noqa: ANN001
    obs = observation(issued="2024-03-01")
    assert errors(obs) == {("struct-primitive-format", "Observation.issued")}


# --- #18 a Period ending before it starts (per-1) ---------------------------------------------
def test_period_ending_before_it_starts(errors) -> None:  # noqa: ANN001
    obs = observation(effectivePeriod={"start": "2024-03-02", "end": "2024-03-01"})
    assert errors(obs) == {("per-1", "Observation.effectivePeriod")}


# --- choice types -----------------------------------------------------------------------------
def test_choice_with_a_type_not_allowed(errors) -> None:  # noqa: ANN001
    assert errors(patient(deceasedString="yes")) == {("struct-choice", "Patient.deceasedString")}


def test_two_types_of_one_choice(errors) -> None:  # noqa: ANN001
    obs = observation(valueString="high", valueBoolean=True)
    assert errors(obs) == {("struct-choice", "Observation.valueBoolean")}


def test_choice_variant_is_validated_as_its_type(errors) -> None:  # noqa: ANN001
    obs = observation(valueQuantity={"value": 1, "unknown": 2}, effectiveDateTime="yesterday")
    assert errors(obs) == {("struct-unknown-element", "Observation.valueQuantity.unknown"),
                           ("struct-primitive-format", "Observation.effectiveDateTime")}


def test_required_choice_missing(errors) -> None:  # noqa: ANN001
    q = {"resourceType": "Questionnaire", "status": "active",
         "item": [{"linkId": "1", "type": "choice", "answerOption": [{"initialSelected": True}]}]}
    assert errors(q) == {("struct-cardinality-min", "Questionnaire.item[0].answerOption[0].value[x]")}


# --- extensions -------------------------------------------------------------------------------
EXT = "https://evk.example.lv/fhir/StructureDefinition/x"


@pytest.mark.parametrize("ext, expected", [
    ({"valueString": "a"}, {("struct-cardinality-min", "Patient.extension[0].url")}),
    ({"url": "nationality", "valueString": "a"}, {("struct-extension-url", "Patient.extension[0].url")}),
    ({"url": EXT}, {("ext-1", "Patient.extension[0]")}),
    ({"url": EXT, "valueString": "a", "extension": [{"url": "part", "valueString": "b"}]},
     {("ext-1", "Patient.extension[0]")}),
    ({"url": EXT, "valueFoo": "a"}, {("struct-choice", "Patient.extension[0].valueFoo")}),
    ({"url": EXT, "valueBoolean": "true"}, {("struct-type", "Patient.extension[0].valueBoolean")}),
])
def test_bad_extensions(errors, ext, expected) -> None:  # noqa: ANN001
    assert errors(patient(extension=[ext])) == expected


def test_complex_extension_parts_may_have_relative_urls(errors) -> None:  # noqa: ANN001
    ext = {"url": EXT, "extension": [{"url": "ombCategory", "valueCoding": {"code": "x"}},
                                     {"url": "text", "valueString": "y"}]}
    assert errors(patient(extension=[ext])) == set()


def test_modifier_extension_in_a_backbone_element(errors) -> None:  # noqa: ANN001
    p = patient(contact=[{"name": {"family": "X"}, "modifierExtension": [{"url": EXT}]}])
    assert errors(p) == {("ext-1", "Patient.contact[0].modifierExtension[0]")}


# --- primitive extensions (_name) -------------------------------------------------------------
def test_primitive_extension_sibling(errors) -> None:  # noqa: ANN001
    ext = {"extension": [{"url": EXT, "valueString": "a"}]}
    assert errors(patient(birthDate="1975", _birthDate=ext)) == set()
    assert errors(patient(_birthDate={"extension": [{"url": EXT}]})) == {("ext-1", "Patient._birthDate.extension[0]")}
    assert errors(patient(_birthDate={"value": "1975"})) == {("struct-unknown-element", "Patient._birthDate.value")}
    assert errors(patient(_birthDate={})) == {("struct-empty", "Patient._birthDate")}


def test_underscore_only_for_primitives(errors) -> None:  # noqa: ANN001
    assert errors(patient(_maritalStatus={"id": "a"})) == {("struct-unknown-element", "Patient._maritalStatus")}


def test_nulls_keep_repeating_primitives_aligned(errors) -> None:  # noqa: ANN001
    p = patient()
    p["name"][0]["given"] = ["Anna", None]
    p["name"][0]["_given"] = [None, {"extension": [{"url": EXT, "valueString": "x"}]}]
    assert errors(p) == set()
    del p["name"][0]["_given"]
    assert errors(p) == {("struct-null", "Patient.name[0].given[1]")}


def test_misaligned_primitive_extension_array(errors) -> None:  # noqa: ANN001
    p = patient()
    p["name"][0]["_given"] = [None, {"id": "x1", "extension": [{"url": EXT, "valueString": "x"}]}]
    assert errors(p) == {("struct-primitive-extension", "Patient.name[0]._given")}


# --- resource types and nested resources ------------------------------------------------------
def test_resource_type_missing_unknown_abstract(errors) -> None:  # noqa: ANN001
    assert errors({"id": "x"}) == {("struct-resource-type-missing", "Resource")}
    assert errors({"resourceType": "Patiend"}) == {("struct-resource-type-unknown", "Patiend.resourceType")}
    assert errors({"resourceType": "DomainResource"}) == {
        ("struct-resource-type-abstract", "DomainResource.resourceType")}


def test_contained_resource_validated_by_its_own_type(errors) -> None:  # noqa: ANN001
    org = {"resourceType": "Organization", "id": "o1", "name": "x", "nmae": "x"}
    p = patient(contained=[org], managingOrganization={"reference": "#o1"})
    assert errors(p) == {("struct-unknown-element", "Patient.contained[0].nmae")}


def test_bundle_entries_get_their_path(errors) -> None:  # noqa: ANN001
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": patient()}, {"resource": patient(birthDate="2024-02-30")}]}
    assert errors(bundle) == {("struct-primitive-date", "Bundle.entry[1].resource.birthDate")}


def test_path_prefix_for_an_entry_validated_alone(errors) -> None:  # noqa: ANN001
    assert errors(patient(birthDate="16.11.1975"), path="Bundle.entry[3].resource") == {
        ("struct-primitive-format", "Bundle.entry[3].resource.birthDate")}


def test_parameters_resource(errors) -> None:  # noqa: ANN001
    params = {"resourceType": "Parameters", "parameter": [{"name": "p", "resource": patient(active="yes")}]}
    assert errors(params) == {("struct-type", "Parameters.parameter[0].resource.active")}


def test_nested_resource_of_the_wrong_type(errors) -> None:  # noqa: ANN001
    bundle = {"resourceType": "Bundle", "type": "batch-response",
              "entry": [{"response": {"status": "200", "outcome": patient()}}]}
    assert errors(bundle) == {("struct-resource-type-mismatch", "Bundle.entry[0].response.outcome")}


def test_content_reference_recurses(errors) -> None:  # noqa: ANN001
    q = {"resourceType": "Questionnaire", "status": "active",
         "item": [{"linkId": "1", "type": "group", "item": [{"type": "string", "text": "x"}]}]}
    assert errors(q) == {("struct-cardinality-min", "Questionnaire.item[0].item[0].linkId")}


# --- values -----------------------------------------------------------------------------------
def test_whitespace_around_code_and_id(errors) -> None:  # noqa: ANN001
    assert errors(patient(gender=" female")) == {("struct-primitive-whitespace", "Patient.gender")}
    assert errors(patient(id="p1 ")) == {("struct-primitive-whitespace", "Patient.id")}


def test_control_characters(errors) -> None:  # noqa: ANN001
    p = patient()
    p["name"][0]["family"] = "Bēr\x00ziņa"
    assert errors(p) == {("struct-primitive-control", "Patient.name[0].family")}
    p["name"][0]["family"] = "Bēr\tziņa\r\n"   # tab, CR, LF are allowed in a string
    assert errors(p) == set()


def test_resource_id_is_an_id_not_a_string(errors) -> None:  # noqa: ANN001
    assert errors(patient(id="bad_id")) == {("struct-primitive-format", "Patient.id")}
    assert errors(patient(id="x" * 65)) == {("struct-primitive-format", "Patient.id")}
    p = patient()
    p["name"][0]["id"] = "any string is fine for Element.id"
    assert errors(p) == set()


def test_integer_ranges(errors) -> None:  # noqa: ANN001
    assert errors(patient(multipleBirthInteger=2**31)) == {("struct-primitive-range", "Patient.multipleBirthInteger")}
    q = {"resourceType": "Questionnaire", "status": "active",
         "item": [{"linkId": "1", "type": "string", "maxLength": -1}]}
    assert errors(q) == set()                  # maxLength is a plain integer in R4
    dose = {"resourceType": "Immunization", "status": "completed", "vaccineCode": {"text": "x"},
            "patient": {"reference": "Patient/p1"}, "occurrenceString": "x",
            "protocolApplied": [{"doseNumberPositiveInt": 0}]}
    assert errors(dose) == {("struct-primitive-range", "Immunization.protocolApplied[0].doseNumberPositiveInt")}


def test_bad_base64_and_uri(errors) -> None:  # noqa: ANN001
    p = patient(photo=[{"contentType": "image/png", "data": "%%%2@()()"}])
    p["name"][0]["extension"] = [{"url": "http://x y", "valueString": "a"}]
    assert errors(p) == {("struct-primitive-format", "Patient.photo[0].data"),
                         ("struct-primitive-format", "Patient.name[0].extension[0].url")}


# --- required bindings ------------------------------------------------------------------------
def test_required_code_binding(errors) -> None:  # noqa: ANN001
    assert errors(patient(gender="M")) == {("binding-required", "Patient.gender")}
    assert errors(observation(status="done")) == {("binding-required", "Observation.status")}
    assert errors({"resourceType": "Bundle", "type": "transactions"}) == {("binding-required", "Bundle.type")}


def test_required_binding_on_a_datatype_element(errors) -> None:  # noqa: ANN001
    p = patient(telecom=[{"system": "mobile", "value": "+37120000000"}])
    assert errors(p) == {("binding-required", "Patient.telecom[0].system")}


def test_required_codeable_concept_binding_checks_only_its_own_system(errors) -> None:  # noqa: ANN001
    cond = {"resourceType": "Condition", "subject": {"reference": "Patient/p1"},
            "clinicalStatus": {"coding": [
                {"system": "http://snomed.info/sct", "code": "55561003"},
                {"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "activ"}]}}
    assert errors(cond) == {("binding-required", "Condition.clinicalStatus.coding[1].code")}
    cond["clinicalStatus"]["coding"].pop()
    assert errors(cond) == set()


def test_everything_is_reported_at_once(errors) -> None:  # noqa: ANN001
    obs = observation(valueString="x", valueBoolean=True, effectiveDateTime="2024-13-01", foo=1)
    del obs["status"]
    found = {rule for rule, _ in errors(obs)}
    assert found == {"struct-choice", "struct-primitive-format", "struct-unknown-element", "struct-cardinality-min"}


def test_input_is_not_modified(validator) -> None:  # noqa: ANN001
    obs = observation(valueString="x", valueBoolean=True, contained=[patient()], effectiveDateTime="x")
    before = copy.deepcopy(obs)
    validator.validate(obs)
    assert obs == before


# --- core rules without a FHIRPath constraint (adapters/validation/resource_rules.py) ------------
def test_bundle_full_urls_are_absolute_and_link_relations_unique(errors) -> None:  # noqa: ANN001
    bundle = {"resourceType": "Bundle", "type": "collection",
              "link": [{"relation": "self", "url": "http://a/1"}, {"relation": "self", "url": "http://a/2"}],
              "entry": [{"fullUrl": "urn:uuid:0b0e5a38-1c11-4c4e-9a9e-000000000001", "resource": {"resourceType": "Basic", "code": {"text": "x"}}},
                        {"fullUrl": "Basic/1", "resource": {"resourceType": "Basic", "code": {"text": "x"}}}]}
    assert errors(bundle) == {("bdl-link-repeated", "Bundle.link[1]"), ("bdl-fullurl-relative", "Bundle.entry[1].fullUrl")}


def test_search_results_have_ids(errors) -> None:  # noqa: ANN001
    bundle = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"fullUrl": "http://a/Basic/1", "resource": {"resourceType": "Basic", "id": "1", "code": {"text": "x"}}},
                        {"fullUrl": "http://a/Basic/2", "resource": {"resourceType": "Basic", "code": {"text": "x"}}}]}
    assert errors(bundle) == {("bdl-search-id", "Bundle.entry[1].resource")}


def test_a_value_set_is_not_a_code_system(errors) -> None:  # noqa: ANN001
    basic = {"resourceType": "Basic", "code": {"coding": [{"system": "http://hl7.org/fhir/ValueSet/measure-type", "code": "x"}]}}
    assert errors(basic) == {("coding-system-value-set", "Basic.code.coding[0].system")}


def test_xhtml_has_only_xml_entities(errors) -> None:  # noqa: ANN001
    div = '<div xmlns="http://www.w3.org/1999/xhtml">Zīmols&reg; &amp; &#169;</div>'
    assert errors({"resourceType": "Basic", "code": {"text": "x"}, "text": {"status": "generated", "div": div}}) == {
        ("xhtml-entity", "Basic.text.div")}


def test_narrative_links_land_on_an_anchor_of_the_document(errors) -> None:  # noqa: ANN001
    def basic(div: str) -> dict:
        return {"resourceType": "Basic", "code": {"text": "x"},
                "text": {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{div}</div>'}}
    assert errors(basic('<a name="a1">A</a> <a href="#a1">see A</a>')) == set()
    assert errors(basic('<a href="#nowhere">see</a>')) == {("xhtml-link-unresolved", "Basic.text.div")}
    # Across a document Bundle's entries, but not judged for one entry seen alone.
    document = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:0b0e5a38-1c11-4c4e-9a9e-000000000001", "resource": basic('<a name="p1">P</a>')},
        {"fullUrl": "urn:uuid:0b0e5a38-1c11-4c4e-9a9e-000000000002", "resource": basic('<a href="#p1">P</a>')}]}
    assert errors(document) == set()
    assert errors(document["entry"][1]["resource"], "Bundle.entry[1].resource") == set()
