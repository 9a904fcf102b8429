"""The classifiers on the FHIR API: read-only resources, catalogue search, $expand, $lookup and
$validate-code through the handler, and over HTTP with real tokens through the guard (any
signed-in principal; no patient audit)."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from ehr_core.api import create_app
from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.engine import make_engine
from tests.utils.auth import Client, bearer, dev_token
from tests.utils.fhir import call

VS = "https://evk.lv/fhir/ValueSet/"
ICD10, LOINC, ATC = "http://hl7.org/fhir/sid/icd-10", "http://loinc.org", "http://www.whocc.no/atc"


def params(body: dict) -> dict:
    return {p["name"]: next((v for k, v in p.items() if k.startswith("value")), p.get("part"))
            for p in body["parameter"]}


def parameters(**values: object) -> dict:
    out = []
    for name, value in values.items():
        key = {bool: "valueBoolean", int: "valueInteger", dict: "valueCoding"}.get(type(value), "valueString")
        if name == "codeableConcept":
            key = "valueCodeableConcept"
        out.append({"name": name, key: value})
    return {"resourceType": "Parameters", "parameter": out}


def test_classifiers_are_readable_and_read_only(handler) -> None:  # noqa: ANN001
    vs = call(handler, "GET", "ValueSet/icd-10")
    assert vs.status == 200 and vs.body["url"] == VS + "icd-10"
    cs = call(handler, "GET", "CodeSystem/icd-10-2019")
    assert cs.status == 200 and cs.body["count"] == len(cs.body["concept"]) == 12542
    assert call(handler, "PUT", "ValueSet/icd-10", vs.body).status == 405
    assert call(handler, "DELETE", "CodeSystem/loinc").status == 405


def test_catalogue_search(handler) -> None:  # noqa: ANN001
    def ids(url: str) -> list[str]:
        resp = call(handler, "GET", url)
        assert resp.status == 200 and resp.body["type"] == "searchset", resp.body
        assert resp.body["total"] == len(resp.body["entry"])
        return [e["resource"]["id"] for e in resp.body["entry"]]
    assert ids(f"ValueSet?url={VS}loinc") == ["loinc"]
    assert ids("CodeSystem?url=http://hl7.org/fhir/sid/icd-10&version=2019") == ["icd-10-2019"]
    assert ids("CodeSystem?url=http://hl7.org/fhir/sid/icd-10&version=2010") == []
    assert set(ids("ValueSet?name=blood")) == {"blood-group-abo", "blood-group-rh"}
    assert "atc-substance" in ids("ValueSet?status=active")
    bad = call(handler, "GET", "ValueSet?publisher=EVK")
    assert bad.status == 400 and bad.body["issue"][0]["code"] == "not-supported"


def test_expand_get_post_and_instance(handler) -> None:  # noqa: ANN001
    got = call(handler, "GET", f"ValueSet/$expand?url={VS}icd-10&filter=cholera&count=2&offset=1")
    assert got.status == 200
    exp = got.body["expansion"]
    assert exp["total"] == 7 and exp["offset"] == 1 and [c["code"] for c in exp["contains"]] == ["A00.0", "A00.1"]
    posted = call(handler, "POST", "ValueSet/$expand", parameters(url=VS + "icd-10", filter="cholera", count=2, offset=1))
    assert posted.status == 200 and posted.body["expansion"]["contains"] == exp["contains"]
    inst = call(handler, "GET", "ValueSet/blood-group-rh/$expand")
    assert [(c["system"], c["code"]) for c in inst.body["expansion"]["contains"]] == [
        ("http://snomed.info/sct", "165747007"), ("http://snomed.info/sct", "165746003")]


@pytest.mark.parametrize("url, status, code", [
    (f"ValueSet/$expand?url={VS}nope", 404, "not-found"),
    ("ValueSet/nope/$expand", 404, "not-found"),
    ("ValueSet/$expand", 400, "required"),
    (f"ValueSet/$expand?url={VS}loinc&count=-1", 400, "invalid"),
    (f"ValueSet/$expand?url={VS}loinc&count=50000", 422, "too-costly"),
    (f"CodeSystem/$lookup?system={LOINC}", 400, "required"),
    (f"CodeSystem/$lookup?system={LOINC}&code=99999-5", 404, "not-found"),
    ("CodeSystem/$lookup?system=http://example.org/cs&code=1", 404, "not-found"),
    (f"ValueSet/$validate-code?url={VS}loinc", 400, "required"),
    (f"ValueSet/$validate-code?url={VS}loinc&code=8867-4", 400, "invalid"),
])
def test_bad_requests_get_an_operation_outcome(handler, url, status, code) -> None:  # noqa: ANN001
    resp = call(handler, "GET", url)
    assert resp.status == status, resp.body
    assert resp.body["resourceType"] == "OperationOutcome" and resp.body["issue"][0]["code"] == code


def test_lookup(handler) -> None:  # noqa: ANN001
    out = call(handler, "GET", f"CodeSystem/$lookup?system={ICD10}&code=J45.0")
    assert out.status == 200
    p = params(out.body)
    assert p["name"] == "ICD10WHO" and p["version"] == "2019" and p["display"] == "Predominantly allergic asthma"
    props = [(part[0]["valueCode"], part[1]) for q in out.body["parameter"] if q["name"] == "property"
             for part in [q["part"]]]
    assert ("parent", {"name": "value", "valueCode": "J45"}) in props
    by_coding = call(handler, "POST", "CodeSystem/$lookup", parameters(coding={"system": ATC, "code": "L02BG03"}))
    assert params(by_coding.body)["display"] == "anastrozole"


def test_validate_code(handler) -> None:  # noqa: ANN001
    ok = call(handler, "GET", f"ValueSet/$validate-code?url={VS}loinc&system={LOINC}&code=8867-4&display=Heart rate")
    assert params(ok.body) == {"result": True, "display": "Heart rate"}
    wrong = params(call(handler, "GET", f"ValueSet/$validate-code?url={VS}atc-substance&system={ATC}&code=N02BE").body)
    assert wrong["result"] is False and "N02BE" in wrong["message"]
    concept = {"coding": [{"system": LOINC, "code": "99999-5"}, {"system": LOINC, "code": "883-9"}]}
    cc = call(handler, "POST", "ValueSet/blood-group-abo/$validate-code",
              parameters(codeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "58460004"}]}))
    assert params(cc.body)["result"] is True and params(cc.body)["display"] == "Blood group O"
    either = call(handler, "POST", "ValueSet/$validate-code", parameters(url=VS + "loinc", codeableConcept=concept))
    assert params(either.body)["result"] is True
    ucum = call(handler, "GET", "CodeSystem/$validate-code?url=http://unitsofmeasure.org&code=beats/min")
    assert params(ucum.body)["result"] is False
    assert params(call(handler, "GET", "CodeSystem/$validate-code?url=http://unitsofmeasure.org&code=/min").body)["result"]
    inst = call(handler, "GET", "CodeSystem/sick-leave-type/$validate-code?code=A&display=Darbnespējas lapa A")
    assert params(inst.body)["result"] is True


def test_capability_statement_lists_the_operations(handler) -> None:  # noqa: ANN001
    cap = call(handler, "GET", "metadata").body
    ops = {r["type"]: {o["name"]: o["definition"] for o in r.get("operation", [])} for r in cap["rest"][0]["resource"]}
    assert ops["ValueSet"]["expand"] == "http://hl7.org/fhir/OperationDefinition/ValueSet-expand"
    assert ops["ValueSet"]["validate-code"] == "http://hl7.org/fhir/OperationDefinition/ValueSet-validate-code"
    assert ops["CodeSystem"]["lookup"] == "http://hl7.org/fhir/OperationDefinition/CodeSystem-lookup"
    assert "validate-code" in ops["CodeSystem"]


@pytest.fixture
def http(db_url):  # noqa: ANN001
    settings = Settings(database_url=db_url, demo_data=False, base_url="http://testserver", dev_auth=True,
                        audit_sync=True)
    svc = Service.from_settings(settings, engine=make_engine(db_url))
    with TestClient(create_app(svc)) as client:
        yield client, svc
    svc.engine.dispose()


def test_any_signed_in_principal_through_the_guard_without_patient_audit(http) -> None:  # noqa: ANN001
    client, svc = http
    person = bearer(dev_token(client, "161175-19997"))
    hospital = bearer(Client(svc, "40003000001", "hospital", "Riga East Hospital").token(client))
    for headers in (person, hospital):
        r = client.get(f"/fhir/ValueSet/$expand?url={VS}blood-group-abo", headers=headers)
        assert r.status_code == 200 and r.json()["expansion"]["total"] == 4
        r = client.get(f"/fhir/CodeSystem/$lookup?system={ICD10}&code=I10", headers=headers)
        assert r.status_code == 200 and params(r.json())["display"] == "Essential (primary) hypertension"
        r = client.post("/fhir/ValueSet/$validate-code", headers={**headers, "content-type": "application/fhir+json"},
                        json=parameters(url=VS + "icd-10", system=ICD10, code="J45.0"))
        assert r.status_code == 200 and params(r.json())["result"] is True
        r = client.get(f"/fhir/ValueSet?url={VS}atc", headers=headers)
        assert r.status_code == 200 and r.json()["total"] == 1
    assert client.get(f"/fhir/ValueSet/$expand?url={VS}atc").status_code == 401
    audit = call(svc.handler, "GET", "AuditEvent?_summary=count").body
    assert audit["total"] == 0
