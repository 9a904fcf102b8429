"""The submission log's endpoints behind the guard (persons: 403, audited), sandbox runs in the
log, and the per-client conformance report by data category."""
from __future__ import annotations

import base64

from adapters.validation import StructureValidator

from ehr_core.rest.messages import FhirRequest
from tests.utils.auth import bearer, dev_token

from .conftest import Site
from .synthea import nationalise, synthea_bundle
from .test_submissions import listed

LAB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}


def audit_events(site: Site, operation: str) -> list[dict]:
    site.service.handler.guard.audit_writer.flush()
    resp = site.service.handler.handle(FhirRequest("GET", "AuditEvent", [("_count", "200")]))
    return [e["resource"] for e in resp.body.get("entry", [])
            if any(s.get("code") == operation for s in e["resource"].get("subtype", []))]


def report(site: Site, who: str, query: str = "") -> dict[str, dict]:
    resp = site.get(who, f"$conformance-report{query}")
    assert resp.status_code == 200, resp.text
    out = {}
    for p in resp.json()["parameter"]:
        if p["name"] != "category":
            continue
        row: dict = {"rules": {}}
        for part in p["part"]:
            if part["name"] == "rule":
                row["rules"][part["part"][0]["valueCode"]] = part["part"][1]["valueInteger"]
            elif part["name"] != "code":
                row[part["name"]] = next(v for k, v in part.items() if k.startswith("value"))
        out[p["part"][0]["valueCoding"]["code"]] = row
    return out


def test_persons_get_403_and_the_refusal_is_audited(site: Site) -> None:
    person = bearer(dev_token(site.http, "32000000001"))
    for op in ("$submissions", "$conformance-report"):
        resp = site.http.get(f"/fhir/{op}", headers=person)
        assert resp.status_code == 403, resp.text
        assert resp.json()["issue"][0]["details"]["coding"][0]["code"] == "access-deny-by-default"
        (event,) = audit_events(site, op)
        assert event["outcome"] == "4" and event["agent"][0]["who"]["identifier"]["value"] == "32000000001"


def test_a_system_s_reads_of_its_log_are_audited_with_its_organisation(site: Site) -> None:
    assert site.get("strict", "$submissions?outcome=refused").status_code == 200
    (event,) = audit_events(site, "$submissions")
    assert event["outcome"] == "0"
    assert event["agent"][0]["who"]["identifier"]["value"] == site.clients["strict"].id
    assert event["entity"][0]["what"]["reference"].startswith("Organization/")
    assert base64.b64decode(event["entity"][1]["query"]).decode() == "$submissions?outcome=refused"
    assert not any("Patient/" in e.get("what", {}).get("reference", "") for e in event["entity"])


def test_sandbox_runs_are_logged_as_sandbox_and_agree_with_a_strict_submission(site: Site) -> None:
    raw, national = synthea_bundle(2), nationalise(synthea_bundle(2), seed=3)
    bad = site.post("strict", "$validate", raw).json()
    good = site.post("strict", "$validate", national).json()
    assert any(i["severity"] == "error" for i in bad["issue"])
    assert [i["details"]["coding"][0]["code"] for i in good["issue"]] == ["evk-valid"]
    assert site.stored()["Patient"] == 0                                # the sandbox stores nothing
    runs = listed(site, "strict", "?sandbox=true")
    assert [(r["sandbox"], r["outcome"]) for r in runs] == [(True, "accepted"), (True, "refused")]
    assert runs[1]["issues"]["issue"] == bad["issue"]
    assert listed(site, "strict", "?sandbox=false") == []
    # What the sandbox passes, a strict submission accepts; what it fails, it refuses.
    assert site.post("strict", "", national).status_code == 200
    assert site.post("strict", "", raw).status_code in (400, 422)


def test_a_single_resource_in_the_sandbox_is_logged_with_its_category(site: Site) -> None:
    obs = {"resourceType": "Observation", "status": "final", "category": [LAB],
           "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]}, "valueString": "x",
           "effectiveDateTime": "2026-11-20T10:00:00+02:00"}
    obs["code"]["coding"][0]["system"] = "loinc"                         # not absolute
    assert site.post("strict", "Observation/$validate", obs).status_code == 200
    (run,) = listed(site, "strict")
    assert run["sandbox"] is True and run["resources"] == {"Observation": 1}
    assert run["categories"]["lab-results"][1] >= 1
    assert report(site, "strict")["lab-results"]["sandboxFailed"] == 1


def test_the_conformance_report_by_data_category(site: Site) -> None:
    assert site.post("strict", "", nationalise(synthea_bundle(0))).status_code == 200
    broken = nationalise(synthea_bundle(1), seed=2)
    cond = next(e["resource"] for e in broken["entry"] if e["resource"]["resourceType"] == "Condition")
    cond["clinicalStatus"]["coding"][0]["system"] = "clinical-status"
    assert site.post("strict", "", broken).status_code in (400, 422)
    assert site.post("strict", "$validate", broken).status_code == 200

    rows = report(site, "strict")
    assert len(rows) == 13 and rows["sick-leave"] == {"accepted": 0, "refused": 0, "refusedWithOthers": 0,
                                                      "sandboxRuns": 0, "sandboxFailed": 0, "rules": {}}
    diagnoses, labs = rows["diagnoses"], rows["lab-results"]
    assert (diagnoses["accepted"], diagnoses["refused"], diagnoses["refusedWithOthers"]) == (1, 1, 0)
    assert (labs["accepted"], labs["refused"], labs["refusedWithOthers"]) == (1, 0, 1)
    assert (diagnoses["sandboxRuns"], diagnoses["sandboxFailed"]) == (1, 1)
    assert "lastSuccess" in diagnoses and "lastSuccess" in labs
    assert diagnoses["rules"] and all(n >= 1 for n in diagnoses["rules"].values())
    assert labs["rules"] == {}
    # Another client of another organisation: its own (empty) report.
    assert report(site, "other")["diagnoses"]["accepted"] == 0
    # Both answers are valid FHIR R4 Parameters.
    for op in ("$conformance-report", "$submissions"):
        assert StructureValidator().validate(site.get("strict", op).json()) == [], op
