"""Instance and type interactions of FHIR R4 http.html, on both engines."""
from __future__ import annotations

import time

from tests.utils.fhir import call

PATIENT = {"resourceType": "Patient", "name": [{"family": "Bērziņš", "given": ["Jānis"]}],
           "gender": "male", "birthDate": "1975-11-16"}


def create(handler, body=PATIENT):  # noqa: ANN001
    resp = call(handler, "POST", "Patient", dict(body))
    assert resp.status == 201, resp.body
    return resp


def test_create_assigns_id_version_and_headers(handler):  # noqa: ANN001
    resp = create(handler, dict(PATIENT, id="client-chosen"))
    body = resp.body
    assert body["id"] != "client-chosen"          # http.html#create: a sent id is ignored
    assert body["meta"]["versionId"] == "1"
    assert body["meta"]["lastUpdated"].endswith("Z")
    assert resp.headers["ETag"] == 'W/"1"'
    assert resp.headers["Location"] == f"http://testserver/fhir/Patient/{body['id']}/_history/1"
    assert "GMT" in resp.headers["Last-Modified"]
    read = call(handler, "GET", f"Patient/{body['id']}")
    assert read.status == 200 and read.body == body


def test_update_versions_and_noop_update_keeps_version(handler):  # noqa: ANN001
    pid = create(handler).body["id"]
    same = call(handler, "PUT", f"Patient/{pid}", dict(PATIENT, id=pid))
    assert same.status == 200 and same.body["meta"]["versionId"] == "1"
    changed = call(handler, "PUT", f"Patient/{pid}", dict(PATIENT, id=pid, gender="female"))
    assert changed.status == 200 and changed.body["meta"]["versionId"] == "2"
    assert call(handler, "GET", f"Patient/{pid}/_history/1").body["gender"] == "male"
    assert call(handler, "GET", f"Patient/{pid}/_history/2").body["gender"] == "female"
    assert call(handler, "GET", f"Patient/{pid}/_history/3").status == 404


def test_update_as_create_and_id_mismatch(handler):  # noqa: ANN001
    made = call(handler, "PUT", "Patient/lv-123", dict(PATIENT, id="lv-123"))
    assert made.status == 201 and made.body["id"] == "lv-123"
    wrong = call(handler, "PUT", "Patient/lv-123", dict(PATIENT, id="other"))
    assert wrong.status == 400 and wrong.body["resourceType"] == "OperationOutcome"
    bad_id = call(handler, "PUT", "Patient/bad$id", dict(PATIENT, id="bad$id"))
    assert bad_id.status == 400


def test_if_match(handler):  # noqa: ANN001
    pid = create(handler).body["id"]
    stale = call(handler, "PUT", f"Patient/{pid}", dict(PATIENT, id=pid, gender="other"), if_match='W/"7"')
    assert stale.status == 412
    ok = call(handler, "PUT", f"Patient/{pid}", dict(PATIENT, id=pid, gender="other"), if_match='W/"1"')
    assert ok.status == 200 and ok.headers["ETag"] == 'W/"2"'


def test_delete_is_logical(handler):  # noqa: ANN001
    pid = create(handler).body["id"]
    assert call(handler, "DELETE", f"Patient/{pid}").status == 204
    assert call(handler, "GET", f"Patient/{pid}").status == 410
    assert call(handler, "DELETE", f"Patient/{pid}").status == 204    # idempotent
    hist = call(handler, "GET", f"Patient/{pid}/_history").body
    methods = [e["request"]["method"] for e in hist["entry"]]
    assert methods == ["DELETE", "POST"]
    assert "resource" not in hist["entry"][0]
    assert call(handler, "GET", f"Patient/{pid}/_history/1").status == 200
    # a deleted resource can be brought back by an update
    back = call(handler, "PUT", f"Patient/{pid}", dict(PATIENT, id=pid))
    assert back.status == 201 and back.body["meta"]["versionId"] == "3"


def test_prefer_return(handler):  # noqa: ANN001
    minimal = call(handler, "POST", "Patient", dict(PATIENT), prefer="return=minimal")
    assert minimal.status == 201 and minimal.body is None and "Location" in minimal.headers
    oo = call(handler, "POST", "Patient", dict(PATIENT), prefer="return=OperationOutcome")
    assert oo.body["resourceType"] == "OperationOutcome"


def test_json_patch(handler):  # noqa: ANN001
    pid = create(handler).body["id"]
    resp = call(handler, "PATCH", f"Patient/{pid}", [{"op": "replace", "path": "/gender", "value": "female"},
                                                     {"op": "add", "path": "/active", "value": True}])
    assert resp.status == 200 and resp.body["gender"] == "female" and resp.body["active"] is True
    assert resp.body["meta"]["versionId"] == "2"
    bad = call(handler, "PATCH", f"Patient/{pid}", [{"op": "replace", "path": "/nope/0", "value": 1}])
    assert bad.status == 422
    invalid = call(handler, "PATCH", f"Patient/{pid}", [{"op": "add", "path": "/birthdate", "value": "1990"}])
    assert invalid.status == 400   # the patched result is validated like any write
    assert call(handler, "GET", f"Patient/{pid}").body["meta"]["versionId"] == "2"


def test_history_levels_since_at_and_paging(handler):  # noqa: ANN001
    pid = create(handler).body["id"]
    time.sleep(0.01)
    mid = call(handler, "GET", f"Patient/{pid}").body["meta"]["lastUpdated"]
    time.sleep(0.01)
    for g in ("female", "other", "unknown"):
        call(handler, "PUT", f"Patient/{pid}", dict(PATIENT, id=pid, gender=g))
    inst = call(handler, "GET", f"Patient/{pid}/_history").body
    assert [e["resource"]["meta"]["versionId"] for e in inst["entry"]] == ["4", "3", "2", "1"]
    since = call(handler, "GET", f"Patient/{pid}/_history?_since={inst['entry'][1]['resource']['meta']['lastUpdated']}").body
    assert [e["resource"]["meta"]["versionId"] for e in since["entry"]] == ["4", "3"]
    at = call(handler, "GET", f"Patient/{pid}/_history?_at={mid}").body
    assert [e["resource"]["meta"]["versionId"] for e in at["entry"]] == ["1"]
    page1 = call(handler, "GET", "Patient/_history?_count=2").body
    assert len(page1["entry"]) == 2
    nxt = next(link["url"] for link in page1["link"] if link["relation"] == "next")
    create(handler)  # a write between pages must not shift the next page
    page2 = call(handler, "GET", nxt.replace("http://testserver/fhir/", "")).body
    assert [e["resource"]["meta"]["versionId"] for e in page2["entry"]] == ["2", "1"]
    system = call(handler, "GET", "_history").body
    assert len(system["entry"]) == 5
    assert call(handler, "GET", "_history?_since=16.11.1975").status == 400


def test_errors_are_operation_outcomes(handler):  # noqa: ANN001
    for method, url, body, status in [
        ("GET", "Unknown/1", None, 404),
        ("GET", "Patient/missing", None, 404),
        ("POST", "Patient", {"resourceType": "Observation"}, 400),
        ("POST", "Patient", ["not", "an", "object"], 400),
        ("POST", "Patient", {"resourceType": "Patient", "birthdate": "1990-01-01"}, 400),
        ("POST", "Patient", {"resourceType": "Patient", "birthDate": "2024-02-30"}, 400),
        ("POST", "Observation", {"resourceType": "Observation", "code": {"text": "x"}}, 400),
    ]:
        resp = call(handler, method, url, body)
        assert resp.status == status, (url, resp.body)
        assert resp.body["resourceType"] == "OperationOutcome"


def test_validation_names_the_element(handler):  # noqa: ANN001
    resp = call(handler, "POST", "Patient", {"resourceType": "Patient", "birthdate": "1990-01-01",
                                             "active": "true"})
    assert resp.status == 400
    expressions = {e for i in resp.body["issue"] for e in i.get("expression", [])}
    assert "Patient.birthdate" in expressions and "Patient.active" in expressions
    assert not call(handler, "GET", "Patient").body.get("entry")   # nothing was stored
