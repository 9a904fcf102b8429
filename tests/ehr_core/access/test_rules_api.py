"""Every rule of access-rules.md, through HTTP with real tokens, on SQLite and PostgreSQL.

Allowed cases see exactly the right resources; refusals answer 403 (or 404 where existence
must not show) with an OperationOutcome and leave an AuditEvent; nothing leaks through
_include, _revinclude, _has, _summary=count, history, $everything or paging links.
"""
from __future__ import annotations

import base64

import pytest

from tests.utils.access_world import FHIR, HIV, LAB, day, grant, new_person, treat, years_ago
from tests.utils.auth import assertion, bearer

pytestmark = pytest.mark.xdist_group("access-rules")


def ids(resp) -> set[str]:  # noqa: ANN001
    assert resp.status_code == 200, resp.text
    return {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in resp.json().get("entry", [])}


def refused(resp, status: int, rule: str | None) -> dict:  # noqa: ANN001
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["resourceType"] == "OperationOutcome"
    if rule is not None:
        assert body["issue"][0]["details"]["coding"][0]["code"] == f"access-{rule}", body
    return body


def last_audit(w, patient: str, *, outcome: str | None = None) -> dict:  # noqa: ANN001
    """Newest AuditEvent about ``patient`` (read as the trusted core, like an auditor)."""
    from ehr_core.rest.messages import FhirRequest
    resp = w.service.handler.handle(FhirRequest("GET", "AuditEvent", [("patient", w.pid(patient)), ("_sort", "-date"),
                                                                        ("_count", "50")]))
    events = [e["resource"] for e in resp.body.get("entry", [])]
    if outcome is not None:
        events = [e for e in events if e["outcome"] == outcome]
    assert events, f"no AuditEvent for {patient}"
    return events[0]


# --- sign-in and tokens -------------------------------------------------------------------------

def test_tokens_required_except_metadata_and_smart_configuration(world):  # noqa: ANN001
    http = world.http
    assert http.get("/fhir/metadata").status_code == 200
    assert http.get("/.well-known/smart-configuration").json()["token_endpoint"].endswith("/auth/token")
    none = http.get(f"/fhir/Patient/{world.pid('adult')}")
    assert none.status_code == 401 and none.headers["www-authenticate"].startswith("Bearer")
    assert none.json()["resourceType"] == "OperationOutcome"
    bad = http.get("/fhir/Patient", headers=bearer(world.token("adult")[:-4] + "AAAA"))
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]
    jwks = http.get("/.well-known/jwks.json").json()
    assert jwks["keys"] and all(k["kty"] == "EC" for k in jwks["keys"])


def test_keys_rotate_without_downtime(world):  # noqa: ANN001
    old = world.dev("adult")
    world.service.keys.rotate()
    new = world.dev("adult")
    import jwt
    assert jwt.get_unverified_header(old)["kid"] != jwt.get_unverified_header(new)["kid"]
    for token in (old, new):
        assert world.http.get(f"/fhir/Patient/{world.pid('adult')}", headers=bearer(token)).status_code == 200


def test_backend_client_assertion_is_checked(world):  # noqa: ANN001
    c = world.clients["hospital"]
    form = c.form()
    assert world.http.post("/auth/token", data=form).status_code == 200
    replay = world.http.post("/auth/token", data=form)
    assert replay.status_code == 401 and replay.json()["error"] == "invalid_client"
    wrong_aud = dict(c.form(), client_assertion=assertion(c.id, c.key, c.kid, "http://elsewhere/token"))
    assert world.http.post("/auth/token", data=wrong_aud).status_code == 401
    narrowed = world.http.post("/auth/token", data=c.form("system/Observation.rs system/Patient.cruds"))
    assert narrowed.json()["scope"] == "system/Observation.rs system/Patient.cruds"
    pharmacy = world.clients["pharmacy"]
    over = world.http.post("/auth/token", data=pharmacy.form("system/Observation.rs"))
    assert over.status_code == 400 and over.json()["error"] == "invalid_scope"


def test_dev_sign_in_rejects_malformed_personal_codes(world):  # noqa: ANN001
    resp = world.http.post("/auth/dev/token", data={"personal_code": "161175-19998"})
    assert resp.status_code == 400 and "check-digit" in resp.json()["error_description"]


# --- rules 1-2: oneself ---------------------------------------------------------------------------

def test_rule_1_own_record_and_nobody_elses(world):  # noqa: ANN001
    w = world
    mine = ids(w.get("adult", "Observation"))
    assert mine == {w.ref("obs-adult"), w.ref("obs-hiv-adult"), w.ref("obs-adult-b")}
    assert w.get("adult", w.ref("obs-hiv-adult")).status_code == 200
    refused(w.get("stranger", w.ref("obs-adult")), 403, "1")
    assert ids(w.get("stranger", "Observation")) == set()
    assert ids(w.get("stranger", f"Observation?patient={w.pid('adult')}")) == set()
    refused(w.get("stranger", f"Patient/{w.pid('adult')}/Observation"), 403, "1")
    event = last_audit(w, "adult", outcome="4")
    assert event["outcomeDesc"].startswith("refused: rule 1")


def test_rule_2_own_reads_audited_but_hidden_from_own_view(world):  # noqa: ANN001
    w = world
    w.get("far", w.ref("obs-far"))
    own_view = w.audit("far", "far")
    assert all(not e.get("meta", {}).get("tag") for e in own_view)
    shown = w.audit("far", "far", "&_tag=https://evk.lv/fhir/CodeSystem/audit-tag|self-access")
    assert any(e["subtype"][0]["code"] == "read" for e in shown)


# --- rules 3-8: minors and wards ------------------------------------------------------------------

def test_rule_3_guardian_reads_until_the_18th_birthday(world):  # noqa: ANN001
    w = world
    assert w.get("parent", w.ref("obs-hiv-kid")).status_code == 200          # under 14: everything
    assert w.get("parent", w.ref("obs-ward17")).status_code == 200           # 18 tomorrow
    refused(w.get("parent", w.ref("obs-ward18")), 403, "3")                   # 18 today
    refused(w.get("parent", f"Patient/{w.pid('ward18')}"), 403, "3")
    seen = ids(w.get("parent", "Condition"))
    assert seen == {w.ref("cond-kid"), w.ref("cond-teen"), w.ref("cond-ward17")}
    assert last_audit(w, "ward18", outcome="4")["outcomeDesc"].startswith("refused: rule 3")
    ok = last_audit(w, "kid", outcome="0")
    assert ok["agent"][0]["role"][0]["coding"][0]["code"] == "guardian"
    wards = {a["patient"] for a in w.http.get("/auth/me", headers=w.as_("parent")).json()["act_for"]
             if a["relation"] == "guardian"}
    assert wards == {w.pid("kid"), w.pid("teen"), w.pid("ward17")}


def test_rule_4_register_changes_apply_on_the_next_request(world):  # noqa: ANN001
    w = world
    refused(w.get("parent", w.ref("obs-exchild")), 403, "4")
    code, pid = new_person(w, years_ago(9), "Custody")
    link = w.create("register", {
        "resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{pid}"},
        "identifier": [{"system": "https://evk.lv/fhir/sid/personas-kods", "value": "32000000001"}],
        "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "MTH"}]}],
        "period": {"start": years_ago(9)}})
    assert w.get("parent", f"Patient/{pid}").status_code == 200
    body = w.get("register", link).json()
    body["period"]["end"] = day(-1)
    assert w.put("register", link, body).status_code == 200
    refused(w.get("parent", f"Patient/{pid}"), 403, "4")


def test_rule_5_sensitive_items_of_a_14_year_old_are_invisible_everywhere(world):  # noqa: ANN001
    w = world
    hiv, teen = w.ref("obs-hiv-teen"), w.pid("teen")
    unknown = w.get("parent", "Observation/does-not-exist")
    hidden = w.get("parent", hiv)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["issue"][0]["code"] == unknown.json()["issue"][0]["code"] == "not-found"
    assert "details" not in hidden.json()["issue"][0]
    assert w.get("parent", f"{hiv}/_history/1").status_code == 404
    assert hiv not in ids(w.get("parent", f"Observation?patient={teen}"))
    count = w.get("parent", f"Observation?patient={teen}&_summary=count").json()["total"]
    assert count == 1 and w.get("teen", f"Observation?patient={teen}&_summary=count").json()["total"] == 2
    assert hiv not in ids(w.get("parent", f"Patient?_id={teen}&_revinclude=Observation:subject"))
    assert w.get("parent", f"Patient?_has:Observation:subject:code:text=HIV&_id={teen}").json().get("total", 0) == 0 \
        and not ids(w.get("parent", f"Patient?_has:Observation:subject:code:text=HIV&_id={teen}"))
    assert ids(w.get("teen", f"Patient?_has:Observation:subject:code:text=HIV&_id={teen}")) == {f"Patient/{teen}"}
    report = w.create("hospital", {"resourceType": "DiagnosticReport", "status": "final", "code": {"text": "panel"},
                                   "subject": {"reference": f"Patient/{teen}"}, "result": [{"reference": hiv}]})
    assert ids(w.get("parent", f"DiagnosticReport?patient={teen}&_include=DiagnosticReport:result")) == {report}
    assert hiv in ids(w.get("teen", f"DiagnosticReport?patient={teen}&_include=DiagnosticReport:result"))
    assert ids(w.get("teen", f"DiagnosticReport?result.code:text=HIV&patient={teen}")) == {report}   # chain
    assert ids(w.get("parent", f"DiagnosticReport?result.code:text=HIV&patient={teen}")) == set()
    assert hiv not in ids(w.get("parent", f"Patient/{teen}/$everything"))
    assert w.ref("obs-teen") in ids(w.get("parent", f"Patient/{teen}/$everything"))
    history = w.get("parent", "Observation/_history?_count=500")
    assert hiv not in {f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in history.json()["entry"]
                       if "resource" in e}
    # Paging: one result per page, and as many pages as visible results (no empty page at the end).
    pages, url = 0, f"/fhir/Observation?patient={teen}&_count=1"
    while url:
        page = w.http.get(url, headers=w.as_("parent")).json()
        pages += 1
        url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
        url = url.replace("http://testserver", "") if url else None
    assert pages == 1


def test_rule_6_a_minor_hides_an_encounter_and_what_belongs_to_it(world):  # noqa: ANN001
    w = world
    code, pid = new_person(w, years_ago(16), "Hider")
    w.create("register", {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{pid}"},
                          "identifier": [{"system": "https://evk.lv/fhir/sid/personas-kods", "value": "32000000001"}],
                          "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                                        "code": "PRN"}]}]})
    enc = w.create("hospital", {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                                "subject": {"reference": f"Patient/{pid}"}})
    obs = w.create("hospital", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                "subject": {"reference": f"Patient/{pid}"}, "encounter": {"reference": enc}})
    assert w.get("parent", obs).status_code == 200
    params = {"resourceType": "Parameters", "parameter": [{"name": "item", "valueReference": {"reference": enc}}]}
    refused(w.post("parent", f"Patient/{pid}/$hide", params), 403, "6")
    refused(w.post("kid", f"Patient/{w.pid('kid')}/$hide", params), 403, "6")     # 10 years old
    assert w.post(code, f"Patient/{pid}/$hide", params).status_code == 200
    assert w.get("parent", enc).status_code == 404 and w.get("parent", obs).status_code == 404
    assert ids(w.get("parent", f"Observation?patient={pid}")) == set()
    assert w.get(code, obs).status_code == 200                                          # still the minor's own
    hides = [e for e in w.audit(code, code, "&_tag=https://evk.lv/fhir/CodeSystem/audit-tag|self-access")
             if e["subtype"][0]["code"] == "$hide"]
    assert [e["outcome"] for e in hides] == ["0"] and hides[0]["outcomeDesc"].startswith("allowed by rule 6")
    assert w.post(code, f"Patient/{pid}/$unhide", params).status_code == 200
    assert w.get("parent", obs).status_code == 200


def test_rule_7_guardians_never_read_or_change_declarations(world):  # noqa: ANN001
    w = world
    decl = w.ref("decl-teen")
    refused(w.get("parent", decl), 403, "7")
    assert decl not in ids(w.get("parent", f"Consent?patient={w.pid('teen')}"))
    body = w.get("teen", decl)
    refused(body, 403, "20")                                  # and a minor does not read their own (rule 20)
    refused(w.put("parent", decl, {"resourceType": "Consent", "id": decl.split("/")[1], "status": "inactive",
                                    "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                                          "code": "adr"}]},
                                    "category": [{"coding": [{"system": "https://evk.lv/fhir/CodeSystem/declaration-type",
                                                              "code": "organ-tissue-donation"}]}],
                                    "patient": {"reference": f"Patient/{w.pid('teen')}"},
                                    "policyRule": {"text": "x"}}), 403, "7")


def test_rule_8_sensitive_results_of_a_14_year_old_notify_the_minor_only(world):  # noqa: ANN001
    w = world
    teen = w.pid("teen")
    w.create("hospital", {"resourceType": "Observation", "status": "final", "meta": {"security": [HIV]},
                          "category": [LAB], "code": {"text": "HIV viral load"}, "subject": {"reference": f"Patient/{teen}"}})
    own = ids(w.get("teen", f"Communication?recipient=Patient/{teen}"))
    assert own, "the minor gets a notice"
    assert ids(w.get("parent", f"Communication?recipient=Patient/{teen}")) == set()


# --- rules 9-15: proxies ---------------------------------------------------------------------------

def test_rules_9_10_a_proxy_sees_only_the_granted_categories(world):  # noqa: ANN001
    w = world
    adult = w.pid("adult")
    assert w.get("proxy", w.ref("obs-adult")).status_code == 200
    refused(w.get("proxy", w.ref("cond-adult")), 403, "10")
    assert ids(w.get("proxy", f"Condition?patient={adult}")) == set()
    assert ids(w.get("proxy", f"Observation?patient={adult}")) == {w.ref("obs-adult"), w.ref("obs-hiv-adult"),
                                                                   w.ref("obs-adult-b")}
    every = ids(w.get("proxy", f"Patient/{adult}/$everything"))
    assert w.ref("obs-adult") in every and w.ref("cond-adult") not in every
    assert w.ref("cond-adult") not in ids(w.get("proxy", f"Observation?patient={adult}&_include=*"))
    ok = last_audit(w, "adult", outcome="0")
    assert ok["agent"][0]["role"][0]["coding"][0]["code"] == "proxy"


def test_rule_11_grants_expire_and_are_bounded(world):  # noqa: ANN001
    w = world
    refused(w.get("proxy", w.ref("obs-expired")), 403, "11")
    code, pid = new_person(w, years_ago(30), "Granter")
    consent = grant(w, code, "stranger")
    stored = w.get(code, consent).json()
    start = stored["provision"]["period"]["start"]
    assert stored["provision"]["period"]["end"][:4] == str(int(start[:4]) + 1)       # default 12 months
    too_long = w.get(code, consent).json()
    too_long["provision"]["period"] = {"start": day(0), "end": day(6 * 365)}
    refused(w.put(code, consent, too_long), 422, "11")


def test_rule_12_revocation_applies_to_the_next_request_and_notifies_both(world):  # noqa: ANN001
    w = world
    assert w.get("proxy", w.ref("obs-revoker")).status_code == 200                # a grant of every category
    consent = w.get("revoker", w.ref("grant-revoker")).json()
    consent["status"] = "inactive"
    assert w.put("revoker", w.ref("grant-revoker"), consent).status_code == 200
    refused(w.get("proxy", w.ref("obs-revoker")), 403, "12")
    assert ids(w.get("revoker", f"Communication?recipient=Patient/{w.pid('revoker')}"))
    assert ids(w.get("proxy", f"Communication?recipient=Patient/{w.pid('proxy')}"))


def test_rule_13_a_proxy_cannot_delegate_or_change_grants_bans_or_declarations(world):  # noqa: ANN001
    w = world
    adult = w.pid("adult")
    refused(w.post("proxy", "RelatedPerson", {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{adult}"},
                                              "identifier": [{"system": "https://evk.lv/fhir/sid/personas-kods",
                                                              "value": "32000000030"}]}), 403, "13")
    refused(w.post("proxy", f"Patient/{adult}/$ban", {"resourceType": "Parameters", "parameter": []}), 403, "13")
    decl = w.get("adult", w.ref("decl-adult")).json()
    refused(w.put("proxy", w.ref("decl-adult"), dict(decl, status="inactive")), 403, "13")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "GET", "url": w.ref("obs-adult")}},
        {"request": {"method": "PUT", "url": w.ref("decl-adult")}, "resource": dict(decl, status="inactive")}]}
    whole = w.http.post("/fhir", json=bundle, headers={**FHIR, **w.as_("proxy")})
    refused(whole, 403, "13")
    assert w.get("adult", w.ref("decl-adult")).json()["status"] == "active"


def test_rule_14_grants_exclude_declarations(world):  # noqa: ANN001
    w = world
    code, pid = new_person(w, years_ago(35), "Full")
    decl = w.create(code, {"resourceType": "Consent", "status": "active", "patient": {"reference": f"Patient/{pid}"},
                           "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                                 "code": "adr"}]},
                           "category": [{"coding": [{"system": "https://evk.lv/fhir/CodeSystem/declaration-type",
                                                     "code": "autopsy"}]}],
                           "policyRule": {"text": "national law"}, "provision": {"type": "permit"}})
    grant(w, code, "proxy")                                    # every category
    assert w.get("proxy", f"Patient/{pid}").status_code == 200
    refused(w.get("proxy", decl), 403, "14")
    assert decl not in ids(w.get("proxy", f"Consent?patient={pid}"))


def test_rule_15_future_authorisation_is_dormant_until_activated_on_evidence(world):  # noqa: ANN001
    w = world
    target = w.ref("grant-future")
    refused(w.get("proxy", w.ref("obs-future")), 403, "15")
    body = w.get("future", target).json()
    refused(w.put("future", target, dict(body, status="active")), 403, "15")
    refused(w.put("officer", target, dict(body, status="active")), 403, "15")        # no evidence
    evidence = dict(body, status="active", verification=[{"verified": True, "verificationDate": day(0)}])
    assert w.put("officer", target, evidence).status_code == 200
    assert w.get("proxy", w.ref("obs-future")).status_code == 200
    activation = [e for e in w.audit("future", "future") if e["action"] == "U"]
    assert activation and activation[0]["outcomeDesc"].startswith("allowed by rule 15")


# --- rules 16-21: clinicians and institutions -----------------------------------------------------

def test_rule_16_clinicians_need_a_recent_treating_relationship(world):  # noqa: ANN001
    w = world
    assert w.get("doctor", w.ref("obs-adult")).status_code == 200                # encounter 10 days ago
    refused(w.get("doctor", w.ref("obs-far")), 403, "16")                        # 100 days ago
    seen = ids(w.get("doctor", "Observation"))
    assert seen == {w.ref("obs-adult"), w.ref("obs-hiv-adult"), w.ref("obs-adult-b")}
    refused(w.get("doctor", f"Patient/{w.pid('far')}/$everything"), 403, "16")
    event = last_audit(w, "far", outcome="4")
    assert event["agent"][0]["who"]["reference"] == f"Practitioner/{w.ids['doctor']}"


def test_rule_17_break_glass(world):  # noqa: ANN001
    w = world
    http = w.http
    bad = http.post("/auth/break-glass", data={"patient": w.pid("far"), "reason": "unconscious in ER"},
                    headers=w.as_("doctor"))
    assert bad.status_code == 400                                              # re-confirmation missing
    resp = http.post("/auth/break-glass", data={"patient": w.pid("far"), "reason": "unconscious in ER",
                                                "confirm": "true", "hours": "9"}, headers=w.as_("doctor"))
    assert resp.status_code == 200 and resp.json()["expires_in"] <= 4 * 3600
    token = resp.json()["access_token"]
    assert http.get(f"/fhir/{w.ref('obs-far')}", headers=bearer(token)).status_code == 200
    refused(http.get(f"/fhir/{w.ref('obs-expired')}", headers=bearer(token)), 403, "16")   # that patient only
    event = last_audit(w, "far", outcome="0")
    assert event["type"]["code"] == "110113" and event["subtype"][0]["code"] == "110127"
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "BTG"
    assert ids(w.get("far", f"Communication?recipient=Patient/{w.pid('far')}"))
    from sqlalchemy import select

    from ehr_core.access import schema
    with w.service.engine.connect() as c:
        assert c.execute(select(schema.break_glass.c.reason).where(
            schema.break_glass.c.patient_id == w.pid("far"))).scalar() == "unconscious in ER"
    assert http.post("/auth/break-glass", data={"patient": w.pid("far"), "reason": "curious about it",
                                                "confirm": "true"}, headers=w.as_("stranger")).status_code == 403


def test_rule_18_bans_are_honoured_except_under_break_glass(world):  # noqa: ANN001
    w = world
    code, pid = new_person(w, years_ago(50), "Banner")
    treat(w, pid)
    doc = w.create("hospital", {"resourceType": "DocumentReference", "status": "current",
                                "subject": {"reference": f"Patient/{pid}"},
                                "content": [{"attachment": {"contentType": "text/plain", "data": "aGk="}}]})
    obs = w.create("hospital", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                "subject": {"reference": f"Patient/{pid}"}})
    assert w.get("doctor", doc).status_code == 200
    one = w.post(code, f"Patient/{pid}/$ban", {"resourceType": "Parameters", "parameter": [
        {"name": "document", "valueReference": {"reference": doc}}]})
    assert one.status_code == 201
    refused(w.get("doctor", doc), 403, "18")
    assert w.get("doctor", obs).status_code == 200
    whole = w.post(code, f"Patient/{pid}/$ban", {"resourceType": "Parameters", "parameter": [
        {"name": "organization", "valueReference": {"reference": f"Organization/{w.org_id('hospital')}"}}]})
    assert whole.status_code == 201
    refused(w.get("doctor", obs), 403, "16")        # the ban removes the relationship's reach
    assert ids(w.get("doctor", f"Observation?patient={pid}")) == set()
    token = w.http.post("/auth/break-glass", data={"patient": pid, "reason": "cardiac arrest in ward",
                                                   "confirm": "true"}, headers=w.as_("doctor")).json()["access_token"]
    assert w.http.get(f"/fhir/{doc}", headers=bearer(token)).status_code == 200


def test_rule_19_pharmacists_read_active_prescriptions_and_write_dispensations(world):  # noqa: ANN001
    w = world
    assert w.get("pharmacist", w.ref("rx-adult")).status_code == 200
    refused(w.get("pharmacist", w.ref("rx-old-adult")), 403, "19")
    refused(w.get("pharmacist", w.ref("obs-adult")), 403, "19")
    found = ids(w.get("pharmacist", f"MedicationRequest?subject=Patient/{w.pid('adult')}"))
    assert found == {w.ref("rx-adult")}
    disp = w.post("pharmacist", "MedicationDispense", {
        "resourceType": "MedicationDispense", "status": "completed", "subject": {"reference": f"Patient/{w.pid('adult')}"},
        "medicationCodeableConcept": {"text": "salbutamol"}, "authorizingPrescription": [{"reference": w.ref("rx-adult")}]})
    assert disp.status_code == 201
    refused(w.post("pharmacist", "Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                                 "subject": {"reference": f"Patient/{w.pid('adult')}"}}), 403, "19")


def test_rule_20_declarations_for_the_adult_person_and_designated_institutions(world):  # noqa: ANN001
    w = world
    decl = w.ref("decl-adult")
    assert w.get("adult", decl).status_code == 200
    refused(w.get("doctor", decl), 403, "20")
    assert w.get("transplant", decl).status_code == 200
    refused(w.get("transplant", w.ref("obs-adult")), 403, "16")
    read = [e for e in w.audit("adult", "adult") if any(ent.get("what", {}).get("reference") == decl
                                                        for ent in e["entity"])]
    assert any(e["agent"][0]["who"].get("reference") == f"Practitioner/{w.ids['transplant']}" for e in read)


def test_rule_21_systems_read_what_their_organisation_submitted(world):  # noqa: ANN001
    w = world
    assert w.get("hospital_b", w.ref("obs-adult-b")).status_code == 200
    refused(w.get("hospital_b", w.ref("obs-adult")), 403, "21")
    assert ids(w.get("hospital_b", "Observation")) == {w.ref("obs-adult-b")}
    body = w.get("hospital", w.ref("obs-adult")).json()
    refused(w.put("hospital_b", w.ref("obs-adult"), dict(body, status="amended")), 403, "21")
    created = w.post("hospital_b", "Observation", {"resourceType": "Observation", "status": "final", "code": {"text": "y"},
                                                   "subject": {"reference": f"Patient/{w.pid('far')}"}})
    assert created.json()["meta"]["source"].endswith(f"Organization/{w.org_id('hospital_b')}")
    event = last_audit(w, "far", outcome="0")
    assert event["agent"][1]["who"]["reference"] == f"Organization/{w.org_id('hospital_b')}"
    refused(w.post("hospital", "RelatedPerson", {
        "resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{w.pid('kid')}"},
        "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "GUARD"}]}]}),
        403, "3")


# --- rules 22-24: audit -----------------------------------------------------------------------------

def test_rule_22_one_event_per_patient_per_request(world):  # noqa: ANN001
    w = world
    resp = w.get("parent", "Condition")
    assert len(ids(resp)) == 3
    for child in ("kid", "teen", "ward17"):
        event = last_audit(w, child, outcome="0")
        assert event["subtype"][0]["code"] == "search-type" and event["action"] == "E"
        query = next(e for e in event["entity"] if e["role"]["code"] == "24")
        assert base64.b64decode(query["query"]).decode().startswith("Condition")
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"request": {"method": "POST", "url": "Observation"},
         "resource": {"resourceType": "Observation", "status": "final", "code": {"text": f"t{i}"},
                      "subject": {"reference": f"Patient/{w.pid('far')}"}}} for i in range(3)]}
    from ehr_core.rest.messages import FhirRequest
    count = lambda: w.service.handler.handle(FhirRequest("GET", "AuditEvent", [("patient", w.pid("far")),  # noqa: E731
                                                                                 ("_summary", "count")])).body["total"]
    n = count()
    assert w.http.post("/fhir", json=bundle, headers={**FHIR, **w.as_("hospital")}).status_code == 200
    assert count() == n + 1


def test_rule_23_audit_events_are_append_only(world):  # noqa: ANN001
    w = world
    event = w.audit("adult", "adult")[0]
    for who in ("adult", "hospital"):
        refused(w.put(who, f"AuditEvent/{event['id']}", event), 405, "23")
        refused(w.http.delete(f"/fhir/AuditEvent/{event['id']}", headers=w.as_(who)), 405, "23")
        refused(w.http.patch(f"/fhir/AuditEvent/{event['id']}", json=[{"op": "remove", "path": "/outcome"}],
                             headers={"content-type": "application/json-patch+json", **w.as_(who)}), 405, "23")


def test_rule_24_the_patient_and_audit_view_proxies_list_accesses_newest_first(world):  # noqa: ANN001
    w = world
    w.get("doctor", w.ref("cond-adult"))
    events = w.audit("adult", "adult")
    assert events[0]["agent"][0]["who"]["reference"] == f"Practitioner/{w.ids['doctor']}"
    assert events[0]["agent"][0]["name"] and events[0]["agent"][1]["who"]["display"] == "Riga East Hospital"
    recorded = [e["recorded"] for e in events]
    assert recorded == sorted(recorded, reverse=True)
    assert w.audit("proxy", "adult")                           # grant with audit-view
    refused(w.get("doctor", f"AuditEvent/{events[0]['id']}"), 403, "24")
    assert ids(w.get("parent", f"AuditEvent?patient={w.pid('kid')}")) == set()
    assert ids(w.get("stranger", f"AuditEvent?patient={w.pid('adult')}")) == set()


def test_smart_scopes_are_intersected_with_the_rules(world):  # noqa: ANN001
    w = world
    narrow = w.dev("adult", scope="user/Observation.rs")
    assert w.http.get(f"/fhir/{w.ref('obs-adult')}", headers=bearer(narrow)).status_code == 200
    refused(w.http.get(f"/fhir/{w.ref('cond-adult')}", headers=bearer(narrow)), 403, "smart-scope")
    lab_only = w.dev("adult", scope="user/Observation.rs?category=http://terminology.hl7.org/CodeSystem/"
                                    "observation-category|laboratory")
    found = ids(w.http.get("/fhir/Observation", headers=bearer(lab_only)))
    assert found == {w.ref("obs-adult"), w.ref("obs-hiv-adult")}
    wide = w.dev("stranger", scope="user/*.cruds")
    refused(w.http.get(f"/fhir/{w.ref('obs-adult')}", headers=bearer(wide)), 403, "1")   # a scope alone grants nothing


def test_rule_24_by_default_the_access_shows_within_a_second(world):  # noqa: ANN001
    import time
    w = world
    writer = w.service.handler.guard.audit_writer
    writer.sync = False
    try:
        before = len(w.audit("adult", "adult"))
        w.get("doctor", w.ref("obs-adult"))
        deadline = time.monotonic() + 1.0
        while len(w.audit("adult", "adult")) == before:
            assert time.monotonic() < deadline, "the access is not in the audit trail within a second"
            time.sleep(0.02)
    finally:
        writer.sync = True
