"""Building national submissions for the tests: valid resources, defects added per test."""
from __future__ import annotations

import copy

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
from tests.utils.fhir import call

PATIENT_PROFILE = "https://evk.lv/fhir/StructureDefinition/evk-patient"
PRACTITIONER_SYSTEM = "https://evk.lv/fhir/sid/arstniecibas-personas-nr"
PATIENT_URL = "urn:uuid:0b0e5a38-1c11-4c4e-9a9e-000000000001"
STORED_TYPES = ("Patient", "Practitioner", "Observation", "Condition", "DocumentReference")


def patient(**extra: object) -> dict:
    p = {"resourceType": "Patient", "meta": {"profile": [PATIENT_PROFILE]},
         "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": "161175-19997"}],
         "name": [{"family": "Bērziņa", "given": ["Anna"]}], "gender": "female", "birthDate": "1975-11-16"}
    p.update(extra)
    return p


def practitioner() -> dict:
    return {"resourceType": "Practitioner", "identifier": [{"system": PRACTITIONER_SYSTEM, "value": "P123456"}],
            "name": [{"family": "Ozols", "given": ["Jānis"]}]}


def observation(**extra: object) -> dict:
    o = {"resourceType": "Observation", "status": "final",
         "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4", "display": "Heart rate"}]},
         "subject": {"reference": PATIENT_URL}, "effectiveDateTime": "2026-11-20T10:00:00+02:00",
         "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}}
    o.update(extra)
    return o


def entry(i: int, resource: dict, method: str = "POST", url: str | None = None) -> dict:
    return {"fullUrl": PATIENT_URL if i == 0 else f"urn:uuid:0b0e5a38-1c11-4c4e-9a9e-{i + 100:012d}",
            "resource": resource, "request": {"method": method, "url": url or resource["resourceType"]}}


def submission(*resources: dict) -> dict:
    """A transaction: the patient first (entry 0), then ``resources``."""
    if not resources or resources[0].get("resourceType") != "Patient":
        resources = (patient(), *resources)
    return {"resourceType": "Bundle", "type": "transaction",
            "entry": [entry(i, copy.deepcopy(r)) for i, r in enumerate(resources)]}


def stored(handler) -> int:  # noqa: ANN001
    return sum(len(call(handler, "GET", f"{rt}?_count=100").body.get("entry", [])) for rt in STORED_TYPES)


def refused(handler, body: dict, rule: str, expression: str, *, url: str = "", method: str = "POST",  # noqa: ANN001
            **headers: str) -> dict:
    """Submit; expect 400/422 with an issue naming ``rule`` at ``expression``; nothing stored."""
    resp = call(handler, method, url, body, **headers)
    assert resp.status in (400, 422), (resp.status, resp.body)
    found = {(i.get("details", {}).get("coding", [{}])[0].get("code"), tuple(i.get("expression", ())))
             for i in resp.body["issue"]}
    assert (rule, (expression,)) in found, found
    assert stored(handler) == 0
    return resp.body


def accepted(handler, body: dict) -> dict:  # noqa: ANN001
    resp = call(handler, "POST", "", body)
    assert resp.status == 200, resp.body
    return resp.body
