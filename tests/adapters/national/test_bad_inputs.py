"""The 36 defects of ../shared/standards/bad-inputs.md, each submitted through the REST handler
on the national submission path: refused (400/422) with the rule id in
``issue.details.coding[0].code`` and the exact ``expression``, and nothing stored.

Defects (or parts) not implemented yet are listed with ``xfail(strict=True)`` and the reason.
"""
from __future__ import annotations

import base64
import copy

import pytest

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
from ehr_core import errors
from ehr_core.rest.jsonbody import parse_json
from tests.utils.fhir import call

from .submissions import (PATIENT_URL, accepted, entry, observation, patient, practitioner, refused, stored,
                          submission)

E0, E1 = "Bundle.entry[0].resource", "Bundle.entry[1].resource"


def test_a_good_submission_is_accepted(national) -> None:  # noqa: ANN001
    out = accepted(national, submission(patient(), practitioner(),
                                        observation(performer=[{"reference": "urn:uuid:0b0e5a38-1c11-4c4e-9a9e-000000000001"}])))
    assert [e["response"]["status"] for e in out["entry"]] == ["201 Created"] * 3


# --- JSON and envelope ---------------------------------------------------------------------------
def _json_rule(raw: bytes) -> errors.FhirError:
    with pytest.raises(errors.FhirError) as err:
        parse_json(raw)
    assert err.value.status == 400
    return err.value


def test_01_malformed_json_reports_line_and_column() -> None:
    err = _json_rule(b'{"resourceType": "Patient",\n "active": }')
    assert err.issues[0].rule == "json-syntax" and "line 2, column 12" in err.issues[0].diagnostics


def test_02_duplicate_property() -> None:
    assert _json_rule(b'{"resourceType": "Patient", "active": true, "active": false}').issues[0].rule == "json-duplicate-key"


@pytest.mark.parametrize("raw", [b'{"value": NaN}', b'{"value": Infinity}', b'{"value": 1e400}'])
def test_03_nan_infinity_out_of_range(raw: bytes) -> None:
    assert _json_rule(raw).issues[0].rule == "json-value"


def test_04_not_utf8() -> None:
    assert _json_rule('{"family": "Bērziņa"}'.encode("utf-16")).issues[0].rule == "json-encoding"


def test_04_nesting_limit() -> None:
    assert _json_rule(b'{"a":' * 200 + b"1" + b"}" * 200).issues[0].rule == "json-depth"
    assert _json_rule(b"[" * 5000 + b"]" * 5000).issues[0].rule == "json-depth"   # past json's own recursion
    assert parse_json(b'{"a":' * 99 + b"1" + b"}" * 99) is not None              # 99 deep is allowed


def test_05_missing_resource_type(national) -> None:  # noqa: ANN001
    bad = observation()
    del bad["resourceType"]
    body = submission(patient())
    body["entry"].append({"fullUrl": "urn:uuid:0b0e5a38-1c11-4c4e-9a9e-000000000009", "resource": bad,
                          "request": {"method": "POST", "url": "Observation"}})
    refused(national, body, "struct-resource-type-missing", E1)


def test_05_unknown_resource_type(national) -> None:  # noqa: ANN001
    body = submission(patient())
    body["entry"].append({"fullUrl": "urn:uuid:0b0e5a38-1c11-4c4e-9a9e-000000000009",
                          "resource": {"resourceType": "Observaton", "status": "final"},
                          "request": {"method": "POST", "url": "Observaton"}})
    refused(national, body, "struct-resource-type-unknown", f"{E1}.resourceType")


def test_05_type_the_endpoint_does_not_take(national) -> None:  # noqa: ANN001
    resp = call(national, "POST", "Patient/$validate", observation())
    assert resp.status == 200
    assert [(i["details"]["coding"][0]["code"], i["expression"]) for i in resp.body["issue"]] == \
        [("evk-resource-type-endpoint", ["Patient"])]


def test_06_submission_not_a_transaction(national) -> None:  # noqa: ANN001
    body = submission(patient())
    body["type"] = "collection"
    refused(national, body, "evk-bundle-type", "Bundle.type")


def test_06_batch_is_not_a_submission_in_the_sandbox(national) -> None:  # noqa: ANN001
    body = submission(patient())
    body["type"] = "batch"
    resp = call(national, "POST", "$validate", body)
    assert ("evk-bundle-type", ["Bundle.type"]) in [(i["details"]["coding"][0]["code"], i.get("expression"))
                                                   for i in resp.body["issue"]]
    assert stored(national) == 0


def test_06_entry_without_request(national) -> None:  # noqa: ANN001
    body = submission(patient(), observation())
    del body["entry"][1]["request"]
    refused(national, body, "evk-entry-request", "Bundle.entry[1].request")


def test_06_method_not_allowed(national) -> None:  # noqa: ANN001
    body = submission(patient(), observation())
    body["entry"][1]["request"]["method"] = "COPY"
    refused(national, body, "evk-entry-method", "Bundle.entry[1].request.method")


def test_06_url_does_not_match_the_resource(national) -> None:  # noqa: ANN001
    body = submission(patient(), observation())
    body["entry"][1]["request"]["url"] = "Condition"
    refused(national, body, "evk-entry-url", "Bundle.entry[1].request.url")


def test_07_relative_full_url(national) -> None:  # noqa: ANN001
    body = submission(patient(), observation())
    body["entry"][1]["fullUrl"] = "Observation/1"
    refused(national, body, "evk-fullurl-relative", "Bundle.entry[1].fullUrl")


def test_07_full_url_twice(national) -> None:  # noqa: ANN001
    body = submission(patient(), observation())
    body["entry"][1]["fullUrl"] = PATIENT_URL
    refused(national, body, "evk-fullurl-duplicate", "Bundle.entry[1].fullUrl")


# --- References ----------------------------------------------------------------------------------
def test_08_urn_uuid_not_in_the_bundle(national) -> None:  # noqa: ANN001
    body = submission(patient(), observation(subject={"reference": "urn:uuid:0b0e5a38-1c11-4c4e-9a9e-00000000ffff"}))
    refused(national, body, "evk-ref-unresolved", f"{E1}.subject.reference")


def test_08_reference_not_in_the_store(national) -> None:  # noqa: ANN001
    body = submission(patient(), observation(subject={"reference": "Patient/999"}))
    refused(national, body, "evk-ref-unresolved", f"{E1}.subject.reference")


def test_08_stored_reference_resolves(national) -> None:  # noqa: ANN001
    created = call(national, "POST", "Patient", patient())
    assert created.status == 201, created.body
    pid = created.body["id"]
    body = submission(observation(subject={"reference": f"Patient/{pid}"}))
    body["entry"] = body["entry"][1:]
    accepted(national, body)


def test_09_reference_to_the_wrong_type(national) -> None:  # noqa: ANN001
    body = submission(patient(), practitioner(),
                      observation(subject={"reference": "urn:uuid:0b0e5a38-1c11-4c4e-9a9e-000000000101"}))
    refused(national, body, "evk-ref-type", "Bundle.entry[2].resource.subject.reference")


# --- Structure -----------------------------------------------------------------------------------
def test_10_unknown_element(national) -> None:  # noqa: ANN001
    p = patient()
    p["birthdate"] = p.pop("birthDate")
    refused(national, submission(p), "struct-unknown-element", f"{E0}.birthdate")


@pytest.mark.parametrize("field, value, rule, where", [
    ("active", None, "struct-null", "active"),
    ("telecom", [], "struct-empty", "telecom"),
    ("maritalStatus", {}, "struct-empty", "maritalStatus"),
    ("deceasedDateTime", "", "struct-empty", "deceasedDateTime"),
])
def test_11_null_and_empty_values(national, field, value, rule, where) -> None:  # noqa: ANN001
    refused(national, submission(patient(**{field: value})), rule, f"{E0}.{where}")


def test_12_string_where_a_boolean_belongs(national) -> None:  # noqa: ANN001
    refused(national, submission(patient(active="true")), "struct-type", f"{E0}.active")


def test_12_scalar_where_an_array_belongs(national) -> None:  # noqa: ANN001
    refused(national, submission(patient(name={"family": "Bērziņa"})), "struct-array-expected", f"{E0}.name")


def test_13_mandatory_base_element_missing(national) -> None:  # noqa: ANN001
    bad = observation()
    del bad["status"]
    refused(national, submission(patient(), bad), "struct-cardinality-min", f"{E1}.status")


def test_14_mandatory_national_element_missing(national) -> None:  # noqa: ANN001
    p = patient()
    del p["identifier"], p["gender"]
    refused(national, submission(p), "evk-patient-identity", E0)


def test_15_two_personal_codes(national) -> None:  # noqa: ANN001
    p = patient()
    p["identifier"].append({"system": PERSONAL_CODE_SYSTEM, "value": "32867300679"})
    refused(national, submission(p), "evk-pc-cardinality", f"{E0}.identifier[1]")


def test_15_an_old_personal_code_is_history_not_a_second_code(national) -> None:  # noqa: ANN001
    p = patient()
    p["identifier"].append({"system": PERSONAL_CODE_SYSTEM, "value": "32867300679", "use": "old",
                            "period": {"end": "2025-01-01"}})
    accepted(national, submission(p))


@pytest.mark.parametrize("value, rule", [("16.11.1975", "struct-primitive-format"),
                                         ("2024-02-30", "struct-primitive-date")])
def test_16_bad_dates(national, value, rule) -> None:  # noqa: ANN001
    p = patient(birthDate=value)
    del p["identifier"]
    refused(national, submission(p), rule, f"{E0}.birthDate")


def test_17_date_time_without_timezone(national) -> None:  # noqa: ANN001
    body = submission(patient(), observation(effectiveDateTime="2026-11-20T10:00:00"))
    refused(national, body, "struct-primitive-timezone", f"{E1}.effectiveDateTime")


@pytest.mark.parametrize("value, rule", [("2999-01-01", "evk-birthdate-future"),
                                         ("1849-12-31", "evk-birthdate-too-early")])
def test_18_birth_date_out_of_range(national, value, rule) -> None:  # noqa: ANN001
    p = patient(birthDate=value)
    del p["identifier"]
    refused(national, submission(p), rule, f"{E0}.birthDate")


def test_18_period_ending_before_it_starts(national) -> None:  # noqa: ANN001
    body = submission(patient(), observation(effectivePeriod={"start": "2026-11-20", "end": "2026-11-19"}))
    del body["entry"][1]["resource"]["effectiveDateTime"]
    refused(national, body, "per-1", f"{E1}.effectivePeriod")


# --- Identifiers and codes -----------------------------------------------------------------------
@pytest.mark.parametrize("code, rule", [
    ("161175-1999", "evk-pc-format"),
    ("161175-19998", "evk-pc-check-digit"),
    ("161175-39997", "evk-pc-century"),
    ("301302-10000", "evk-pc-date"),
])
def test_19_bad_personal_code(national, code, rule) -> None:  # noqa: ANN001
    p = patient(identifier=[{"system": PERSONAL_CODE_SYSTEM, "value": code}])
    refused(national, submission(p), rule, f"{E0}.identifier[0].value")


def test_19_legacy_code_after_june_2017(national) -> None:  # noqa: ANN001
    from adapters.national import personal_code as pc
    digits = "0101182000"
    code = digits + str(pc.check_digit(digits))
    p = patient(identifier=[{"system": PERSONAL_CODE_SYSTEM, "value": code}], birthDate="2018-01-01")
    refused(national, submission(p), "evk-pc-legacy-after-2017", f"{E0}.identifier[0].value")


def test_19_code_date_differs_from_birth_date(national) -> None:  # noqa: ANN001
    refused(national, submission(patient(birthDate="1975-11-17")), "evk-pc-birthdate", f"{E0}.birthDate")


def test_19_new_format_check_digit_is_only_a_warning(national) -> None:  # noqa: ANN001
    resp = call(national, "POST", "Patient/$validate",
                patient(identifier=[{"system": PERSONAL_CODE_SYSTEM, "value": "328673-00670"}]))
    assert [(i["severity"], i["details"]["coding"][0]["code"]) for i in resp.body["issue"]] == \
        [("warning", "evk-pc-check-digit-new")]
    accepted(national, submission(patient(identifier=[{"system": PERSONAL_CODE_SYSTEM, "value": "328673-00670"}])))


def test_20_identifier_without_system(national) -> None:  # noqa: ANN001
    p = patient()
    p["identifier"].append({"value": "MRN-1"})
    refused(national, submission(p), "evk-id-system-missing", f"{E0}.identifier[1]")


def test_20_identifier_system_not_registered(national) -> None:  # noqa: ANN001
    p = patient()
    p["identifier"].append({"system": "https://hospital.example/mrn", "value": "MRN-1"})
    refused(national, submission(p), "evk-id-system-unregistered", f"{E0}.identifier[1].system")


def test_21_code_outside_a_required_value_set(national) -> None:  # noqa: ANN001
    refused(national, submission(patient(gender="M")), "binding-required", f"{E0}.gender")


def test_22_relative_coding_system(national) -> None:  # noqa: ANN001
    bad = {"resourceType": "Condition", "subject": {"reference": PATIENT_URL},
           "code": {"coding": [{"system": "ICD10", "code": "I10"}]}}
    refused(national, submission(patient(), bad), "evk-coding-system-relative", f"{E1}.code.coding[0].system")


def test_22_coding_system_differs_from_the_profile(national) -> None:  # noqa: ANN001
    # evk-condition slices Condition.code.coding closed on system: ICD-10 only (the rule is the
    # generic profile one of adapters/validation/messages.py).
    bad = {"resourceType": "Condition", "subject": {"reference": PATIENT_URL},
           "meta": {"profile": ["https://evk.lv/fhir/StructureDefinition/evk-condition"]},
           "code": {"coding": [{"system": "http://snomed.info/sct", "code": "38341003"}]}}
    refused(national, submission(patient(), bad), "profile-fixed-system", f"{E1}.code.coding[0].system")


@pytest.mark.parametrize("code, rule", [("U99.9", "evk-icd10-unknown"), ("I10.", "evk-icd10-format"),
                                        ("i10", "evk-icd10-format"), ("J45", "evk-icd10-not-specific")])
def test_23_icd10_unknown_malformed_or_not_specific(national, code, rule) -> None:  # noqa: ANN001
    bad = {"resourceType": "Condition", "subject": {"reference": PATIENT_URL},
           "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": code}]}}
    refused(national, submission(patient(), bad), rule, f"{E1}.code.coding[0].code")


def test_23_a_specific_icd10_code_is_accepted(national) -> None:  # noqa: ANN001
    good = {"resourceType": "Condition", "subject": {"reference": PATIENT_URL},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "J45.0"}]}}
    accepted(national, submission(patient(), good))


def test_24_atc_code_at_the_wrong_level(national) -> None:  # noqa: ANN001
    bad = {"resourceType": "MedicationStatement", "status": "active", "subject": {"reference": PATIENT_URL},
           "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "N02BE"}]}}
    refused(national, submission(patient(), bad), "evk-atc-level", f"{E1}.medicationCodeableConcept.coding[0].code")


def test_25_loinc_check_digit(national) -> None:  # noqa: ANN001
    bad = observation(code={"coding": [{"system": "http://loinc.org", "code": "8867-5"}]})
    refused(national, submission(patient(), bad), "evk-loinc-check-digit", f"{E1}.code.coding[0].code")


def test_25_loinc_malformed(national) -> None:  # noqa: ANN001
    bad = observation(code={"coding": [{"system": "http://loinc.org", "code": "8867"}]})
    refused(national, submission(patient(), bad), "evk-loinc-format", f"{E1}.code.coding[0].code")


def test_25_loinc_code_that_does_not_exist(national) -> None:  # noqa: ANN001
    bad = observation(code={"coding": [{"system": "http://loinc.org", "code": "99999-5"}]})   # check digit right
    refused(national, submission(patient(), bad), "evk-loinc-unknown", f"{E1}.code.coding[0].code")


@pytest.mark.parametrize("code", ["38341004", "38341011"])   # check digit; description partition
def test_26_snomed_id_check_digit_and_partition(national, code) -> None:  # noqa: ANN001
    bad = {"resourceType": "Condition", "subject": {"reference": PATIENT_URL},
           "code": {"coding": [{"system": "http://snomed.info/sct", "code": code}]}}
    refused(national, submission(patient(), bad), "evk-snomed-id", f"{E1}.code.coding[0].code")


def test_26_snomed_outside_the_national_subset(national) -> None:  # noqa: ANN001
    bad = {"resourceType": "Condition", "subject": {"reference": PATIENT_URL},
           "code": {"coding": [{"system": "http://snomed.info/sct", "code": "46635009"}]}}   # a valid id
    refused(national, submission(patient(), bad), "evk-snomed-subset", f"{E1}.code.coding[0].code")


def test_27_unit_not_ucum(national) -> None:  # noqa: ANN001
    bad = observation(valueQuantity={"value": 72, "system": "http://unitsofmeasure.org", "code": "beats/min"})
    refused(national, submission(patient(), bad), "evk-ucum", f"{E1}.valueQuantity.code")


# --- Profiles and content ------------------------------------------------------------------------
def test_28_extension_not_allowed(national) -> None:  # noqa: ANN001
    p = patient(extension=[{"url": "http://example.org/unknown", "valueString": "x"}])
    refused(national, submission(p), "evk-extension-not-allowed", f"{E0}.extension[0]")


def test_28_modifier_extension_not_allowed(national) -> None:  # noqa: ANN001
    p = patient(modifierExtension=[{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                                    "valueAddress": {"city": "Rīga"}}])
    refused(national, submission(p), "evk-extension-not-allowed", f"{E0}.modifierExtension[0]")


def test_28_extension_in_the_wrong_place(national) -> None:  # noqa: ANN001
    bad = observation(extension=[{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                                  "valueAddress": {"city": "Rīga"}}])
    refused(national, submission(patient(), bad), "evk-extension-context", f"{E1}.extension[0]")


def test_28_core_extension_in_its_place_is_accepted(national) -> None:  # noqa: ANN001
    p = patient(extension=[{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace",
                            "valueAddress": {"city": "Rīga"}}])
    accepted(national, submission(p))


def test_28_extension_on_the_wrong_element(national) -> None:  # noqa: ANN001
    p = patient(name=[{"family": "Bērziņa", "extension": [
        {"url": "http://hl7.org/fhir/StructureDefinition/iso21090-ADXP-streetName", "valueString": "Brīvības"}]}])
    refused(national, submission(p), "evk-extension-context", f"{E0}.name[0].extension[0]")


def test_29_ext_1(national) -> None:  # noqa: ANN001
    p = patient(extension=[{"url": "http://example.org/x"}])
    refused(national, submission(p), "ext-1", f"{E0}.extension[0]")


def test_29_obs_6(national) -> None:  # noqa: ANN001
    bad = observation(dataAbsentReason={"text": "not measured"})
    refused(national, submission(patient(), bad), "obs-6", E1)


def test_29_cpt_2(national) -> None:  # noqa: ANN001
    refused(national, submission(patient(telecom=[{"value": "+37120000000"}])), "cpt-2", f"{E0}.telecom[0]")


def test_29_choice_type_conflict(national) -> None:  # noqa: ANN001
    bad = observation(valueString="72")
    refused(national, submission(patient(), bad), "struct-choice", f"{E1}.valueString")


def test_30_bad_resource_id(national) -> None:  # noqa: ANN001
    body = submission(patient())
    body["entry"][0]["request"] = {"method": "PUT", "url": "Patient/bad_id!"}
    body["entry"][0]["resource"]["id"] = "bad_id!"
    refused(national, body, "struct-primitive-format", f"{E0}.id")


@pytest.mark.parametrize("field", ["versionId", "lastUpdated"])
def test_30_server_owned_meta_on_create(national, field) -> None:  # noqa: ANN001
    p = patient()
    p["meta"][field] = "3" if field == "versionId" else "2026-11-20T10:00:00Z"
    refused(national, submission(p), "evk-server-owned", f"{E0}.meta.{field}")


def test_30_an_update_may_carry_what_it_read(national) -> None:  # noqa: ANN001
    created = call(national, "POST", "Patient", patient())
    read = call(national, "GET", f"Patient/{created.body['id']}").body
    read["active"] = True
    assert call(national, "PUT", f"Patient/{read['id']}", read).status == 200


def test_30_client_id_on_create_is_ignored_not_refused(national) -> None:  # noqa: ANN001
    """http.html#create: the server ignores a client id; Synthea sends one on every POST entry."""
    out = accepted(national, submission(patient(id="client-chosen")))
    assert "client-chosen" not in out["entry"][0]["response"]["location"]


def test_31_unknown_national_profile(national) -> None:  # noqa: ANN001
    p = patient(meta={"profile": ["https://evk.lv/fhir/StructureDefinition/evk-pacients"]})
    refused(national, submission(p), "evk-profile-unknown", f"{E0}.meta.profile[0]")


def test_31_national_profile_of_another_type(national) -> None:  # noqa: ANN001
    p = patient(meta={"profile": ["https://evk.lv/fhir/StructureDefinition/evk-practitioner"]})
    refused(national, submission(p), "evk-profile-type", f"{E0}.meta.profile[0]")


@pytest.mark.parametrize("div", [
    '<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></div>',
    '<div xmlns="http://www.w3.org/1999/xhtml"><img src="x.png" onerror="alert(1)"/></div>',
    '<div xmlns="http://www.w3.org/1999/xhtml"><a href="javascript:alert(1)">x</a></div>',
    '<div xmlns="http://www.w3.org/1999/xhtml"><iframe src="https://evil.example"></iframe></div>',
])
def test_32_active_content_in_narrative(national, div) -> None:  # noqa: ANN001
    p = patient(text={"status": "generated", "div": div})
    refused(national, submission(p), "evk-narrative-active", f"{E0}.text.div")


def _document(**attachment: object) -> dict:
    return {"resourceType": "DocumentReference", "status": "current", "subject": {"reference": PATIENT_URL},
            "content": [{"attachment": {"contentType": "application/pdf", **attachment}}]}


def test_33_invalid_base64(national) -> None:  # noqa: ANN001
    refused(national, submission(patient(), _document(data="not base64!")), "struct-primitive-format",
            f"{E1}.content[0].attachment.data")


def test_33_size_and_hash_that_do_not_match(national) -> None:  # noqa: ANN001
    data = base64.b64encode(b"%PDF-1.4 test").decode()
    body = submission(patient(), _document(data=data, size=3, hash=base64.b64encode(b"x" * 20).decode()))
    refused(national, body, "att-size", f"{E1}.content[0].attachment.size")    # every write: structure
    refused(national, body, "evk-attachment-hash", f"{E1}.content[0].attachment.hash")


def test_33_content_type_not_allowed(national) -> None:  # noqa: ANN001
    doc = _document(data=base64.b64encode(b"MZ").decode())
    doc["content"][0]["attachment"]["contentType"] = "application/x-msdownload"
    refused(national, submission(patient(), doc), "evk-attachment-content-type", f"{E1}.content[0].attachment.contentType")


def test_34_contained_resource_nothing_references(national) -> None:  # noqa: ANN001
    bad = observation(contained=[{"resourceType": "Practitioner", "id": "c1"}])
    refused(national, submission(patient(), bad), "dom-3", f"{E1}.contained[0]")


def test_34_nested_contained(national) -> None:  # noqa: ANN001
    inner = {"resourceType": "Organization", "id": "o1", "name": "X"}
    bad = observation(contained=[{"resourceType": "Practitioner", "id": "c1", "contained": [inner]}],
                      performer=[{"reference": "#c1"}])
    refused(national, submission(patient(), bad), "dom-2", E1)


def test_35_string_over_1mb(national) -> None:  # noqa: ANN001
    bad = observation(note=[{"text": "x" * (1024 * 1024 + 1)}])
    refused(national, submission(patient(), bad), "struct-primitive-length", f"{E1}.note[0].text")


def test_35_control_characters(national) -> None:  # noqa: ANN001
    p = patient(name=[{"family": "Bēr\x07ziņa"}])
    refused(national, submission(p), "struct-primitive-control", f"{E0}.name[0].family")


def test_35_whitespace_around_a_code(national) -> None:  # noqa: ANN001
    refused(national, submission(patient(gender=" female")), "struct-primitive-whitespace", f"{E0}.gender")


def test_36_plain_create_duplicating_a_business_identifier(national) -> None:  # noqa: ANN001
    first = call(national, "POST", "Patient", patient())
    assert first.status == 201
    for resp in (call(national, "POST", "Patient", patient()), call(national, "POST", "", submission(patient()))):
        assert resp.status == 422, resp.body
        issue = resp.body["issue"][0]
        assert issue["details"]["coding"][0]["code"] == "evk-identifier-duplicate"
        assert issue["expression"] in (["Patient.identifier[0]"], ["Bundle.entry[0].resource.identifier[0]"])
        assert f"Patient/{first.body['id']}" in issue["diagnostics"]
    assert stored(national) == 1


def test_36_retried_conditional_submission_changes_nothing(national) -> None:  # noqa: ANN001
    body = submission(patient())
    body["entry"][0]["request"]["ifNoneExist"] = f"identifier={PERSONAL_CODE_SYSTEM}|161175-19997"
    first = accepted(national, copy.deepcopy(body))
    second = accepted(national, copy.deepcopy(body))
    assert first["entry"][0]["response"]["status"] == "201 Created"
    assert second["entry"][0]["response"]["status"] == "200 OK"
    assert stored(national) == 1
