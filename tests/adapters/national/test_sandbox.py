"""``$validate``, the sandbox (resource-operation-validate.html): every issue at once, 200,
nothing stored; a transaction Bundle is validated with its envelope and references."""
from __future__ import annotations

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
from tests.utils.fhir import call

from .submissions import observation, patient, stored, submission


def rules(resp) -> list[tuple[str, str, list]]:  # noqa: ANN001
    return [(i["severity"], i.get("details", {}).get("coding", [{}])[0].get("code"), i.get("expression", []))
            for i in resp.body["issue"]]


def test_a_valid_resource_gets_one_information_issue(handler) -> None:  # noqa: ANN001
    resp = call(handler, "POST", "Patient/$validate", patient())
    assert resp.status == 200 and resp.body["resourceType"] == "OperationOutcome"
    assert rules(resp) == [("information", "evk-valid", [])]
    assert stored(handler) == 0


def test_every_issue_at_once_and_nothing_stored(handler) -> None:  # noqa: ANN001
    p = patient(gender="M", birthDate="2999-01-01", active="yes")
    p["identifier"].append({"system": PERSONAL_CODE_SYSTEM, "value": "12345"})
    resp = call(handler, "POST", "$validate", p)
    assert resp.status == 200
    found = {(r, tuple(e)) for _, r, e in rules(resp)}
    assert {("binding-required", ("Patient.gender",)), ("evk-birthdate-future", ("Patient.birthDate",)),
            ("struct-type", ("Patient.active",)), ("evk-pc-format", ("Patient.identifier[1].value",))} <= found
    assert stored(handler) == 0


def test_parameters_with_a_resource(handler) -> None:  # noqa: ANN001
    body = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient(gender="M")}]}
    resp = call(handler, "POST", "Patient/$validate", body)
    assert ("error", "binding-required", ["Patient.gender"]) in rules(resp)


def test_the_sandbox_holds_everything_to_the_submission_rules(handler) -> None:  # noqa: ANN001
    """A resource without a national profile claim is still held to the national rules here."""
    p = patient(meta={})
    p["identifier"].append({"system": "https://hospital.example/mrn", "value": "1"})
    resp = call(handler, "POST", "Patient/$validate", p)
    assert ("error", "evk-id-system-unregistered", ["Patient.identifier[1].system"]) in rules(resp)


def test_transaction_bundle_entry_by_entry_with_references_inside(handler) -> None:  # noqa: ANN001
    good = submission(patient(), observation())
    assert rules(call(handler, "POST", "$validate", good)) == [("information", "evk-valid", [])]
    bad = submission(patient(), observation(subject={"reference": "urn:uuid:0b0e5a38-1c11-4c4e-9a9e-00000000dead"}),
                     observation(performer=[{"reference": "Practitioner/nope"}]))
    bad["entry"][2]["fullUrl"] = "relative/2"
    found = {(r, tuple(e)) for _, r, e in rules(call(handler, "POST", "$validate", bad))}
    assert {("evk-ref-unresolved", ("Bundle.entry[1].resource.subject.reference",)),
            ("evk-ref-unresolved", ("Bundle.entry[2].resource.performer[0].reference",)),
            ("evk-fullurl-relative", ("Bundle.entry[2].fullUrl",))} <= found
    assert stored(handler) == 0


def test_mode_update_accepts_server_owned_meta(handler) -> None:  # noqa: ANN001
    p = patient(id="x1")
    p["meta"]["versionId"] = "2"
    assert ("error", "evk-server-owned", ["Patient.meta.versionId"]) in rules(call(handler, "POST", "Patient/$validate", p))
    assert rules(call(handler, "POST", "Patient/$validate?mode=update", p)) == [("information", "evk-valid", [])]


def test_capability_statement_lists_validate(handler) -> None:  # noqa: ANN001
    cs = call(handler, "GET", "metadata").body
    assert any(o["name"] == "validate" for o in cs["rest"][0]["operation"])
    patient_ops = next(r for r in cs["rest"][0]["resource"] if r["type"] == "Patient")["operation"]
    assert any(o["name"] == "validate" for o in patient_ops)


def test_a_stored_business_identifier_is_reported_for_create_not_update(handler) -> None:  # noqa: ANN001
    created = call(handler, "POST", "Patient", patient())
    assert created.status == 201
    found = rules(call(handler, "POST", "Patient/$validate", patient()))
    assert found == [("error", "evk-identifier-duplicate", ["Patient.identifier[0]"])]
    assert rules(call(handler, "POST", "Patient/$validate?mode=update", patient(id=created.body["id"]))) == \
        [("information", "evk-valid", [])]


def test_the_sandbox_refuses_markup_in_strings_and_example_urls(handler) -> None:  # noqa: ANN001
    """A national record is shown in the portal and to partner states: no markup, no example hosts."""
    p = patient()
    p["name"][0]["text"] = "Jānis <script>alert(1)</script>"
    p.setdefault("extension", []).append({"url": "http://example.org/fhir/StructureDefinition/x", "valueString": "v"})
    found = rules(call(handler, "POST", "Patient/$validate", p))
    assert ("error", "content-html-in-string", ["Patient.name[0].text"]) in found
    assert ("error", "content-example-url", [f"Patient.extension[{len(p['extension']) - 1}].url"]) in found
    assert stored(handler) == 0
