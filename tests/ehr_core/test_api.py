"""The HTTP edge: media types, body limits, strict JSON, headers — every error an OperationOutcome."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ehr_core.api import create_app
from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.engine import make_engine
from tests.utils.auth import Client, bearer

FHIR = {"content-type": "application/fhir+json"}


@pytest.fixture
def client(db_url):  # noqa: ANN001
    settings = Settings(database_url=db_url, demo_data=False, base_url="http://testserver", max_body_bytes=100_000,
                        dev_auth=True)
    svc = Service.from_settings(settings, engine=make_engine(db_url))
    with TestClient(create_app(svc)) as c:
        # Every endpoint but /fhir/metadata needs a token: act as a hospital's system (SMART
        # Backend Services), which may write patients and read back what it wrote.
        c.headers.update(bearer(Client(svc, "40003000001", "hospital").token(c)))
        yield c
    svc.engine.dispose()


def is_outcome(resp) -> bool:  # noqa: ANN001
    return resp.headers["content-type"].startswith("application/fhir+json") and \
        resp.json()["resourceType"] == "OperationOutcome"


def test_create_read_over_http(client):  # noqa: ANN001
    resp = client.post("/fhir/Patient", content=b'{"resourceType":"Patient","gender":"female"}', headers=FHIR)
    assert resp.status_code == 201
    assert resp.headers["etag"] == 'W/"1"' and resp.headers["location"].startswith("http://testserver/fhir/Patient/")
    read = client.get(resp.headers["location"].split("/_history")[0])
    assert read.status_code == 200 and read.json()["gender"] == "female"
    assert read.headers["last-modified"].endswith("GMT")
    again = client.get(resp.headers["location"].split("/_history")[0], headers={"if-none-match": 'W/"1"'})
    assert again.status_code == 304


def test_malformed_json_reports_line_and_column(client):  # noqa: ANN001
    resp = client.post("/fhir/Patient", content=b'{"resourceType": "Patient",\n "gender": }', headers=FHIR)
    assert resp.status_code == 400 and is_outcome(resp)
    assert "line 2, column" in resp.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize("body", [
    b'{"resourceType":"Patient","gender":"male","gender":"female"}',
    b'{"resourceType":"Patient","multipleBirthInteger":NaN}',
    b'{"resourceType":"Patient","multipleBirthInteger":1e400}',
    b'\xff\xfe{}',
])
def test_json_that_fhir_forbids(client, body):  # noqa: ANN001
    resp = client.post("/fhir/Patient", content=body, headers=FHIR)
    assert resp.status_code == 400 and is_outcome(resp)


def test_media_type_size_and_unknown_type(client):  # noqa: ANN001
    xml = client.post("/fhir/Patient", content=b"<Patient/>", headers={"content-type": "application/fhir+xml"})
    assert xml.status_code == 415 and is_outcome(xml)
    big = client.post("/fhir/Patient", content=b'{"resourceType":"Patient","id":"' + b"x" * 200_000 + b'"}',
                      headers=FHIR)
    assert big.status_code == 413 and is_outcome(big)
    unknown = client.get("/fhir/Spaceship/1")
    assert unknown.status_code == 404 and is_outcome(unknown)
    mismatch = client.put("/fhir/Patient/a", content=b'{"resourceType":"Patient","id":"b"}', headers=FHIR)
    assert mismatch.status_code == 400 and is_outcome(mismatch)


def test_metadata_tells_the_truth(client):  # noqa: ANN001
    cs = client.get("/fhir/metadata").json()
    assert cs["fhirVersion"] == "4.0.1"
    types = {r["type"]: r for r in cs["rest"][0]["resource"]}
    assert len(types) > 140 and "Patient" in types
    names = {p["name"] for p in types["Observation"]["searchParam"]}
    assert {"code", "date", "subject", "value-quantity", "code-value-quantity", "_id", "_lastUpdated"} <= names
    assert any(op["name"] == "everything" for op in types["Patient"].get("operation", []))
    assert {i["code"] for i in cs["rest"][0]["interaction"]} >= {"transaction", "batch", "history-system"}


def test_search_post_form(client):  # noqa: ANN001
    client.post("/fhir/Patient", content=b'{"resourceType":"Patient","gender":"female"}', headers=FHIR)
    resp = client.post("/fhir/Patient/_search", content=b"gender=female",
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 200 and resp.json()["type"] == "searchset"
    assert len(resp.json()["entry"]) == 1


def test_validate_sandbox_over_http_stores_nothing(client):  # noqa: ANN001
    bad = client.post("/fhir/Patient/$validate", content=b'{"resourceType":"Patient","birthDate":"2024-02-30"}',
                      headers=FHIR)
    assert bad.status_code == 200 and is_outcome(bad)
    assert any(i["severity"] == "error" for i in bad.json()["issue"])
    good = client.post("/fhir/$validate", headers=FHIR, content=(
        b'{"resourceType":"Patient","identifier":[{"system":"https://evk.lv/fhir/sid/personas-kods",'
        b'"value":"161175-19997"}],"name":[{"family":"Ozols","given":["Janis"]}],'
        b'"gender":"male","birthDate":"1975-11-16"}'))
    assert good.status_code == 200
    assert not any(i["severity"] == "error" for i in good.json()["issue"]), good.json()
    assert not client.get("/fhir/Patient").json().get("entry")   # nothing stored


def test_validate_sandbox_is_not_for_persons(client):  # noqa: ANN001
    from tests.utils.auth import dev_token
    person = bearer(dev_token(client, "161175-19997"))
    resp = client.post("/fhir/$validate", content=b'{"resourceType":"Patient"}', headers={**FHIR, **person})
    assert resp.status_code == 403 and is_outcome(resp)
