"""Batch and transaction Bundles (http.html#transaction): atomicity, references, order."""
from __future__ import annotations

from tests.utils.fhir import call

SYSTEM = "https://evk.example.lv/fhir/sid/test"


def tx(*entries: dict, kind: str = "transaction") -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries)}


def post(full_url: str, resource: dict, **request) -> dict:  # noqa: ANN003
    return {"fullUrl": full_url, "resource": resource,
            "request": {"method": "POST", "url": resource["resourceType"], **request}}


def count(handler, rt: str) -> int:  # noqa: ANN001
    return len(call(handler, "GET", f"{rt}?_count=1000").body.get("entry", []))


def test_urn_uuid_references_resolved_everywhere(handler):  # noqa: ANN001
    pat = "urn:uuid:8a7b7b9e-0000-4000-8000-000000000001"
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "pulse"},
           "subject": {"reference": pat},
           "extension": [{"url": "http://example.org/ext", "valueReference": {"reference": pat}}],
           "contained": [{"resourceType": "Provenance", "id": "p1", "recorded": "2024-01-01T00:00:00Z",
                          "target": [{"reference": pat}], "agent": [{"who": {"reference": pat}}]}],
           "derivedFrom": [{"reference": "#p1"}]}
    resp = call(handler, "POST", "", tx(post(pat, {"resourceType": "Patient"}),
                                        post("urn:uuid:8a7b7b9e-0000-4000-8000-000000000002", obs)))
    assert resp.status == 200, resp.body
    e0, e1 = resp.body["entry"]
    assert e0["response"]["status"] == "201 Created" and e1["response"]["status"] == "201 Created"
    assert e0["response"]["location"].startswith("Patient/") and e0["response"]["etag"] == 'W/"1"'
    pid = e0["response"]["location"].split("/")[1]
    stored = call(handler, "GET", e1["response"]["location"].rsplit("/_history", 1)[0]).body
    want = f"Patient/{pid}"
    assert stored["subject"]["reference"] == want
    assert stored["extension"][0]["valueReference"]["reference"] == want
    assert stored["contained"][0]["target"][0]["reference"] == want
    assert stored["contained"][0]["agent"][0]["who"]["reference"] == want
    assert stored["derivedFrom"][0]["reference"] == "#p1"


def test_transaction_is_atomic_and_names_the_entry(handler):  # noqa: ANN001
    before = count(handler, "Patient")
    bad = {"resourceType": "Observation", "status": "final"}   # code missing
    resp = call(handler, "POST", "", tx(post("urn:uuid:8a7b7b9e-0000-4000-8000-000000000003", {"resourceType": "Patient"}),
                                        post("urn:uuid:8a7b7b9e-0000-4000-8000-000000000004", bad)))
    assert resp.status in (400, 422)
    text = str(resp.body)
    assert "Bundle.entry[1]" in text
    assert count(handler, "Patient") == before


def test_failure_during_processing_rolls_back(handler):  # noqa: ANN001
    resp = call(handler, "POST", "", tx(
        post("urn:uuid:8a7b7b9e-0000-4000-8000-000000000005", {"resourceType": "Patient"}),
        {"request": {"method": "PUT", "url": "Patient/x1"}, "resource": {"resourceType": "Patient", "id": "x2"}}))
    assert resp.status == 400 and "Bundle.entry[1]" in str(resp.body)
    assert count(handler, "Patient") == 0


def test_conditional_references_and_if_none_exist(handler):  # noqa: ANN001
    org = {"resourceType": "Organization", "identifier": [{"system": SYSTEM, "value": "ORG1"}], "name": "Slimnīca"}
    first = call(handler, "POST", "", tx(post("urn:uuid:8a7b7b9e-0000-4000-8000-000000000006", org,
                                              ifNoneExist=f"identifier={SYSTEM}|ORG1")))
    org_loc = first.body["entry"][0]["response"]["location"].split("/_history")[0]
    again = call(handler, "POST", "", tx(
        post("urn:uuid:8a7b7b9e-0000-4000-8000-000000000007", org, ifNoneExist=f"identifier={SYSTEM}|ORG1"),
        post("urn:uuid:8a7b7b9e-0000-4000-8000-000000000008",
             {"resourceType": "Patient", "managingOrganization": {"reference": f"Organization?identifier={SYSTEM}|ORG1"}}),
        post("urn:uuid:8a7b7b9e-0000-4000-8000-000000000009",
             {"resourceType": "Patient", "managingOrganization": {"reference": "urn:uuid:8a7b7b9e-0000-4000-8000-000000000007"}})))
    assert again.status == 200, again.body
    statuses = [e["response"]["status"] for e in again.body["entry"]]
    assert statuses == ["200 OK", "201 Created", "201 Created"]
    assert count(handler, "Organization") == 1
    for e in again.body["entry"][1:]:
        pat = call(handler, "GET", e["response"]["location"].split("/_history")[0]).body
        assert pat["managingOrganization"]["reference"] == org_loc
    missing = call(handler, "POST", "", tx(post("urn:uuid:8a7b7b9e-0000-4000-8000-00000000000a",
        {"resourceType": "Patient", "managingOrganization": {"reference": f"Organization?identifier={SYSTEM}|NONE"}})))
    assert missing.status == 400 and "matches nothing" in str(missing.body)
    call(handler, "POST", "Organization", org)
    ambiguous = call(handler, "POST", "", tx(post("urn:uuid:8a7b7b9e-0000-4000-8000-00000000000b",
        {"resourceType": "Patient", "managingOrganization": {"reference": f"Organization?identifier={SYSTEM}|ORG1"}})))
    assert ambiguous.status == 412


def test_two_entries_with_the_same_if_none_exist_store_one_resource(handler):  # noqa: ANN001
    org = {"resourceType": "Organization", "identifier": [{"system": SYSTEM, "value": "TWICE"}], "name": "Divreiz"}
    first_url, second_url = "urn:uuid:8a7b7b9e-0000-4000-8000-0000000000d1", "urn:uuid:8a7b7b9e-0000-4000-8000-0000000000d2"
    resp = call(handler, "POST", "", tx(
        post(first_url, org, ifNoneExist=f"identifier={SYSTEM}|TWICE"),
        post(second_url, org, ifNoneExist=f"identifier={SYSTEM}|TWICE"),
        post("urn:uuid:8a7b7b9e-0000-4000-8000-0000000000d3",
             {"resourceType": "Patient", "managingOrganization": {"reference": second_url}})))
    assert resp.status == 200, resp.body
    first, second, patient = resp.body["entry"]
    assert first["response"]["status"] == "201 Created" and second["response"]["status"] == "200 OK"
    created = first["response"]["location"].split("/_history")[0]
    assert f"Organization/{second['resource']['id']}" == created          # the match, not a second one
    assert len(call(handler, "GET", f"Organization?identifier={SYSTEM}|TWICE").body.get("entry", [])) == 1
    stored = call(handler, "GET", patient["response"]["location"].split("/_history")[0]).body
    assert stored["managingOrganization"]["reference"] == created     # bound to the one stored


def test_processing_order_delete_before_create(handler):  # noqa: ANN001
    call(handler, "PUT", "Patient/old", {"resourceType": "Patient", "id": "old"})
    resp = call(handler, "POST", "", tx(
        {"request": {"method": "GET", "url": "Patient/old/_history"}},
        post("urn:uuid:8a7b7b9e-0000-4000-8000-00000000000c", {"resourceType": "Patient"}),
        {"request": {"method": "DELETE", "url": "Patient/old"}}))
    assert resp.status == 200, resp.body
    statuses = [e["response"]["status"] for e in resp.body["entry"]]
    assert statuses[1] == "201 Created" and statuses[2] == "204 No Content"
    assert statuses[0] == "200 OK"   # GET runs last, after the DELETE: history shows it
    assert resp.body["entry"][0]["resource"]["entry"][0]["request"]["method"] == "DELETE"


def test_envelope_errors(handler):  # noqa: ANN001
    assert call(handler, "POST", "", {"resourceType": "Bundle", "type": "collection"}).status == 400
    dup = tx(post("urn:uuid:8a7b7b9e-0000-4000-8000-00000000000d", {"resourceType": "Patient"}),
             post("urn:uuid:8a7b7b9e-0000-4000-8000-00000000000d", {"resourceType": "Patient"}))
    assert call(handler, "POST", "", dup).status == 400
    rel = tx(post("Patient/1", {"resourceType": "Patient"}))
    assert call(handler, "POST", "", rel).status == 400
    no_request = tx({"resource": {"resourceType": "Patient"}})
    assert call(handler, "POST", "", no_request).status == 400


def test_batch_entries_are_independent(handler):  # noqa: ANN001
    resp = call(handler, "POST", "", tx(
        post("urn:uuid:8a7b7b9e-0000-4000-8000-00000000000e", {"resourceType": "Patient"}),
        post("urn:uuid:8a7b7b9e-0000-4000-8000-00000000000f", {"resourceType": "Observation", "status": "final"}),
        {"request": {"method": "GET", "url": "Patient/none"}},
        kind="batch"))
    assert resp.status == 200
    statuses = [e["response"]["status"] for e in resp.body["entry"]]
    assert statuses[0] == "201 Created" and statuses[1] == "400 Bad Request" and statuses[2] == "404 Not Found"
    assert resp.body["type"] == "batch-response"
    assert resp.body["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"
    assert count(handler, "Patient") == 1
