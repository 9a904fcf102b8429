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


def _child_of_parent(w, age: int, name: str) -> tuple[str, str]:  # noqa: ANN001
    """A fresh child in the register whose custody is with "parent"."""
    code, pid = new_person(w, years_ago(age), name)
    w.create("register", {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{pid}"},
                          "identifier": [{"system": "https://evk.lv/fhir/sid/personas-kods", "value": "32000000001"}],
                          "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode",
                                                        "code": "PRN"}]}]})
    return code, pid


def test_rule_6_a_minor_hides_an_encounter_and_what_belongs_to_it(world):  # noqa: ANN001
    w = world
    code, pid = _child_of_parent(w, 16, "Hider")
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


def _reviewer(w, code: str, org: str) -> str:  # noqa: ANN001
    """A supervisor whose PractitionerRole at ``org`` is coded break-glass-reviewer; their token."""
    from tests.utils.access_world import _trusted_create
    from tests.utils.auth import dev_token
    pr = _trusted_create(w.service, {"resourceType": "Practitioner", "name": [{"family": "Supervisor", "given": [org]}]})
    _trusted_create(w.service, {"resourceType": "PractitionerRole", "active": True, "practitioner": {"reference": pr},
                                "organization": {"reference": f"Organization/{w.org_id(org)}"},
                                "code": [{"coding": [{"system": "https://evk.lv/fhir/CodeSystem/practitioner-role",
                                                      "code": "break-glass-reviewer"}]}]})
    return dev_token(w.http, code, practitioner=pr.split("/")[1])


def test_rule_17_every_break_glass_use_is_on_a_review_list(world):  # noqa: ANN001
    w = world
    code, pid = new_person(w, years_ago(61), "Emergency")
    obs = w.create("hospital_b", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                  "subject": {"reference": f"Patient/{pid}"}})
    reason = "unconscious, no relatives reachable"
    issued = w.http.post("/auth/break-glass", data={"patient": pid, "reason": reason, "confirm": "true", "hours": "1"},
                         headers=w.as_("doctor")).json()
    assert w.http.get(f"/fhir/{obs}", headers=bearer(issued["access_token"])).status_code == 200
    # The patient's mailbox has the notice, with the stated reason.
    notices = [e["resource"] for e in w.get(code, f"Communication?recipient=Patient/{pid}").json()["entry"]]
    assert [n["category"][0]["coding"][0]["code"] for n in notices] == ["break-glass"]
    assert reason in notices[0]["payload"][0]["contentString"]

    reviewer, other = _reviewer(w, "32000000040", "hospital"), _reviewer(w, "32000000041", "hospital_b")
    listed = w.http.get(f"/fhir/$break-glass-review?patient={pid}", headers=bearer(reviewer))
    assert listed.status_code == 200, listed.text
    [use] = [{p["name"]: p for p in u["part"]} | {"event": [p for p in u["part"] if p["name"] == "event"]}
             for u in listed.json()["parameter"]]
    assert use["practitioner"]["valueReference"]["reference"] == f"Practitioner/{w.ids['doctor']}"
    assert use["organization"]["valueReference"]["reference"] == f"Organization/{w.org_id('hospital')}"
    assert use["reason"]["valueString"] == reason and use["reviewed"]["valueBoolean"] is False
    assert use["issued"]["valueInstant"] < use["expires"]["valueInstant"]
    from ehr_core.rest.messages import FhirRequest
    events = [w.service.handler.handle(FhirRequest("GET", e["valueReference"]["reference"], [])).body
              for e in use["event"]]
    assert len(events) == 2 and {e["subtype"][1]["code"] for e in events} == {"break-glass", "read"}
    assert all(e["type"]["code"] == "110113" and e["purposeOfEvent"][0]["coding"][0]["code"] == "BTG" for e in events)
    # The review list is for the reviewers of the clinician's organisation only.
    assert w.http.get(f"/fhir/$break-glass-review?patient={pid}", headers=bearer(other)).json().get("parameter", []) == []
    refused(w.get("doctor", "$break-glass-review"), 403, "17")
    refused(w.get(code, "$break-glass-review"), 403, "17")
    # Reviewing it: marked, off the open list; the other organisation's reviewer cannot.
    mark = {"resourceType": "Parameters", "parameter": [{"name": "use", "valueString": use["id"]["valueString"]}]}
    assert w.http.post("/fhir/$break-glass-review", json=mark, headers={**FHIR, **bearer(other)}).status_code == 404
    done = w.http.post("/fhir/$break-glass-review", json=mark, headers={**FHIR, **bearer(reviewer)})
    assert done.status_code == 200
    assert [p["valueBoolean"] for p in done.json()["parameter"][0]["part"] if p["name"] == "reviewed"] == [True]
    still_open = w.http.get(f"/fhir/$break-glass-review?status=open&patient={pid}", headers=bearer(reviewer)).json()
    assert still_open.get("parameter", []) == []
    # The review is itself an access to the patient's data, in the patient's audit view: the
    # listing and the marking (lists that showed nobody concern no patient).
    reviews = [e for e in w.audit(code, code) if e["subtype"][0]["code"] == "$break-glass-review"]
    assert [e["action"] for e in reviews] == ["E", "E"] and {e["outcome"] for e in reviews} == {"0"}
    assert {e["agent"][1]["who"]["reference"] for e in reviews} == {f"Organization/{w.org_id('hospital')}"}
    assert {e["agent"][0]["role"][0]["coding"][0]["code"] for e in reviews} == {"break-glass-reviewer"}


# --- leaks: the same narrowing for every way a search can reach a resource --------------------------

def _all_pages(w, who: str, url: str) -> list[str]:  # noqa: ANN001
    """Every entry over every page, following the server's next links."""
    seen, url = [], f"/fhir/{url}"
    visited = set()
    while url:
        assert url not in visited, f"paging loops back to {url} after {len(seen)} entries"
        assert len(visited) <= 500, f"paging has not ended after 500 pages ({len(seen)} entries)"
        visited.add(url)
        page = w.http.get(url, headers=w.as_(who))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [f"{e['resource']['resourceType']}/{e['resource']['id']}" for e in body.get("entry", [])
                 if "resource" in e]
        url = next((link["url"] for link in body.get("link", []) if link["relation"] == "next"), None)
        url = url.replace("http://testserver", "") if url else None
    return seen


def test_rule_10_no_category_leaks_through_includes_has_counts_history_or_paging(world):  # noqa: ANN001
    w = world
    adult, cond = w.pid("adult"), w.ref("cond-adult")          # the proxy's grant: lab results only
    assert cond not in ids(w.get("proxy", f"Patient?_id={adult}&_revinclude=Condition:subject"))
    assert ids(w.get("proxy", f"Patient?_id={adult}&_has:Condition:subject:code:text=asthma")) == set()
    assert ids(w.get("adult", f"Patient?_id={adult}&_has:Condition:subject:code:text=asthma")) == {f"Patient/{adult}"}
    assert w.get("proxy", f"Condition?patient={adult}&_summary=count").json()["total"] == 0
    assert w.get("proxy", f"MedicationRequest?subject=Patient/{adult}&_summary=count").json()["total"] == 0
    assert cond not in _all_pages(w, "proxy", "Condition/_history?_count=1")
    assert cond not in _all_pages(w, "proxy", "_history?_count=2")
    everything = _all_pages(w, "proxy", f"Patient/{adult}/$everything?_count=1")
    assert w.ref("obs-adult") in everything and cond not in everything and w.ref("rx-adult") not in everything
    assert len(everything) == len(set(everything))
    refused(w.get("proxy", f"{cond}/_history"), 403, "10")
    refused(w.get("proxy", f"{cond}/_history/1"), 403, "10")


def test_rule_5_paging_through_everything_never_shows_a_sensitive_item(world):  # noqa: ANN001
    w = world
    teen = w.pid("teen")
    pages = _all_pages(w, "parent", f"Patient/{teen}/$everything?_count=1")
    assert w.ref("obs-hiv-teen") not in pages and w.ref("obs-teen") in pages
    assert w.ref("decl-teen") not in pages                         # rule 7 too
    assert w.ref("obs-hiv-teen") not in _all_pages(w, "parent", f"Observation?patient={teen}&_count=1&_sort=-_lastUpdated")
    assert w.ref("obs-hiv-teen") in _all_pages(w, "teen", f"Patient/{teen}/$everything?_count=1")


def test_rule_18_a_banned_document_does_not_leak_through_includes_or_counts(world):  # noqa: ANN001
    w = world
    code, pid = new_person(w, years_ago(48), "DocBanner")
    treat(w, pid)
    doc = _document(w, pid, description="psychiatry letter")
    assert w.post(code, f"Patient/{pid}/$ban", {"resourceType": "Parameters", "parameter": [
        {"name": "document", "valueReference": {"reference": doc}}]}).status_code == 201
    assert w.get("doctor", f"DocumentReference?patient={pid}&_summary=count").json()["total"] == 0
    assert doc not in ids(w.get("doctor", f"Patient?_id={pid}&_revinclude=DocumentReference:subject"))
    assert ids(w.get("doctor", f"Patient?_id={pid}&_has:DocumentReference:subject:description=psychiatry")) == set()
    assert doc not in _all_pages(w, "doctor", f"Patient/{pid}/$everything?_count=1")
    assert doc not in _all_pages(w, "doctor", "DocumentReference/_history?_count=1")
    refused(w.get("doctor", f"{doc}/_history"), 403, "18")


# --- Binary: decided by its securityContext --------------------------------------------------------

def _document(w, pid: str, **extra) -> str:  # noqa: ANN001, ANN003
    return w.create("hospital", {"resourceType": "DocumentReference", "status": "current",
                                 "subject": {"reference": f"Patient/{pid}"},
                                 "content": [{"attachment": {"contentType": "text/plain", "data": "aGk="}}], **extra})


def _binary(w, context: str | None) -> str:  # noqa: ANN001
    body = {"resourceType": "Binary", "contentType": "text/plain", "data": base64.b64encode(b"letter").decode()}
    if context:
        body["securityContext"] = {"reference": context}
    return w.create("hospital", body)


def test_binary_is_read_under_the_rules_of_its_security_context(world):  # noqa: ANN001
    w = world
    adult = w.pid("adult")
    doc = w.create("hospital", {"resourceType": "DocumentReference", "status": "current",
                                "subject": {"reference": f"Patient/{adult}"},
                                "content": [{"attachment": {"contentType": "text/plain", "url": "Binary/later"}}]})
    own, loose = _binary(w, doc), _binary(w, None)
    assert w.get("adult", own).status_code == 200                     # rule 1, through the DocumentReference
    assert w.get("doctor", own).status_code == 200                    # rule 16
    refused(w.get("stranger", own), 403, "1")
    refused(w.get("proxy", own), 403, "10")                           # documents are outside the proxy's grant
    refused(w.get("hospital_b", own), 403, "21")
    assert w.get("hospital", own).status_code == 200                  # the submitter
    refused(w.get("adult", loose), 403, "1")                          # no securityContext: the submitter only
    assert w.get("hospital", loose).status_code == 200
    assert ids(w.get("adult", "Binary")) == set()                     # searches stay with the submitter
    refused(w.get("adult", f"{own}/_history"), 403, "1")
    assert w.get("adult", f"{own}/_history/1").status_code == 200
    event = last_audit(w, "adult", outcome="0")
    assert {e["what"]["reference"] for e in event["entity"] if "what" in e} >= {own, doc}
    # A URL in someone's DocumentReference grants nothing: only the Binary's own securityContext.
    mine = w.create("hospital", {"resourceType": "DocumentReference", "status": "current",
                                 "subject": {"reference": f"Patient/{w.pid('stranger')}"},
                                 "content": [{"attachment": {"contentType": "text/plain", "url": own}}]})
    assert mine and w.get("stranger", own).status_code == 403


def test_binary_of_a_sensitive_document_is_invisible_to_guardians(world):  # noqa: ANN001
    w = world
    teen = w.pid("teen")
    doc = _document(w, teen, meta={"security": [HIV]})
    scan = _binary(w, doc)
    assert w.get("teen", scan).status_code == 200
    hidden, unknown = w.get("parent", scan), w.get("parent", "Binary/no-such-binary")
    assert hidden.status_code == unknown.status_code == 404 and "details" not in hidden.json()["issue"][0]
    by_patient = _binary(w, f"Patient/{teen}")
    assert w.get("parent", by_patient).status_code == 200 and w.get("teen", by_patient).status_code == 200


def test_rule_6_hidden_items_leave_includes_counts_and_everything_too(world):  # noqa: ANN001
    w = world
    code, pid = _child_of_parent(w, 15, "Hider2")
    doc = _document(w, pid)
    scan = _binary(w, doc)
    params = {"resourceType": "Parameters", "parameter": [{"name": "item", "valueReference": {"reference": doc}}]}
    assert w.get("parent", scan).status_code == 200
    assert w.post(code, f"Patient/{pid}/$hide", params).status_code == 200
    assert w.get("parent", f"DocumentReference?patient={pid}&_summary=count").json()["total"] == 0
    assert doc not in ids(w.get("parent", f"Patient?_id={pid}&_revinclude=DocumentReference:subject"))
    assert doc not in _all_pages(w, "parent", f"Patient/{pid}/$everything?_count=1")
    assert w.get("parent", f"{doc}/_history").status_code == 404
    assert w.get("parent", scan).status_code == 404                  # and its Binary
    assert w.get(code, scan).status_code == 200


def test_rule_9_only_an_adult_grants(world):  # noqa: ANN001
    w = world
    teen = w.pid("teen")
    rp = {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{teen}"},
          "identifier": [{"system": "https://evk.lv/fhir/sid/personas-kods", "value": "32000000030"}]}
    made = w.post("teen", "RelatedPerson", rp)
    target = f"RelatedPerson/{made.json()['id']}" if made.status_code == 201 else "RelatedPerson/x"
    consent = {"resourceType": "Consent", "status": "active",
               "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                     "code": "patient-privacy"}]},
               "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
               "patient": {"reference": f"Patient/{teen}"}, "dateTime": day(0),
               "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]},
               "provision": {"type": "permit", "actor": [{"role": {"coding": [{
                   "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "POWATT"}]},
                   "reference": {"reference": target}}]}}
    refused(w.post("teen", "Consent", consent), 403, "9")


def test_rule_16_gp_list_and_referrals_are_treating_relationships(world):  # noqa: ANN001
    w = world
    code, pid = new_person(w, years_ago(70), "Listed")
    obs = w.create("hospital_b", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                  "subject": {"reference": f"Patient/{pid}"}})
    refused(w.get("doctor", obs), 403, "16")
    patient = w.get("register", f"Patient/{pid}").json()
    patient["generalPractitioner"] = [{"reference": f"Organization/{w.org_id('hospital')}"}]
    assert w.put("register", f"Patient/{pid}", patient).status_code == 200
    assert w.get("doctor", obs).status_code == 200
    code2, pid2 = new_person(w, years_ago(71), "Referred")
    obs2 = w.create("hospital_b", {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                                   "subject": {"reference": f"Patient/{pid2}"}})
    refused(w.get("doctor", obs2), 403, "16")
    w.create("hospital_b", {"resourceType": "ServiceRequest", "status": "active", "intent": "order",
                            "subject": {"reference": f"Patient/{pid2}"}, "authoredOn": day(-3),
                            "performer": [{"reference": f"Practitioner/{w.ids['doctor']}"}]})
    assert w.get("doctor", obs2).status_code == 200
