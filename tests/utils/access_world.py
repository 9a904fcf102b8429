"""A small population for the access-rule suite, built through the API with real tokens.

Ages are relative to today in Europe/Riga, so the suite tests the rules on any day. Personal
codes are new-format (no birth date inside: age always comes from the register's birthDate).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
from ehr_core.access.patients import today_riga
from tests.utils.auth import Client, bearer, dev_token

FHIR = {"content-type": "application/fhir+json"}
ROLE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
HIV = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HIV"}
LAB = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory"}]}
VITAL = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "vital-signs"}]}
CODES = {  # who -> personal code
    "parent": "32000000001", "kid": "32000000002", "teen": "32000000003", "ward18": "32000000004",
    "ward17": "32000000005", "exchild": "32000000006", "adult": "32000000007", "proxy": "32000000008",
    "expired": "32000000009", "revoker": "32000000010", "future": "32000000011", "far": "32000000012",
    "doctor": "32000000020", "pharmacist": "32000000021", "officer": "32000000022", "transplant": "32000000023",
    "stranger": "32000000030",
}


def years_ago(years: int, days: int = 0) -> str:
    t = today_riga()
    try:
        d = t.replace(year=t.year - years)
    except ValueError:          # 29 February
        d = t.replace(year=t.year - years, day=28)
    return (d + timedelta(days=days)).isoformat()


def day(offset: int) -> str:
    return (today_riga() + timedelta(days=offset)).isoformat()


@dataclass
class World:
    http: object
    service: object
    clients: dict[str, Client] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    patients: dict[str, str] = field(default_factory=dict)      # who -> Patient id
    ids: dict[str, str] = field(default_factory=dict)           # label -> "Type/id"
    orgs: dict[str, str] = field(default_factory=dict)

    # --- HTTP helpers -------------------------------------------------------------------------
    def token(self, who: str) -> str:
        return self.tokens[who]

    def as_(self, who: str) -> dict[str, str]:
        return bearer(self.tokens[who])

    def get(self, who: str, url: str):  # noqa: ANN201
        return self.http.get(f"/fhir/{url}", headers=self.as_(who))

    def post(self, who: str, url: str, body: dict):  # noqa: ANN201
        return self.http.post(f"/fhir/{url}", json=body, headers={**FHIR, **self.as_(who)})

    def put(self, who: str, url: str, body: dict):  # noqa: ANN201
        return self.http.put(f"/fhir/{url}", json=body, headers={**FHIR, **self.as_(who)})

    def create(self, who: str, body: dict, label: str | None = None) -> str:
        resp = self.post(who, body["resourceType"], body)
        assert resp.status_code == 201, (who, resp.text)
        ref = f"{body['resourceType']}/{resp.json()['id']}"
        if label:
            self.ids[label] = ref
        return ref

    def ref(self, label: str) -> str:
        return self.ids[label]

    def pid(self, who: str) -> str:
        return self.patients[who]

    def audit(self, who: str, patient: str, extra: str = "") -> list[dict]:
        resp = self.get(who, f"AuditEvent?patient={self.pid(patient)}&_count=200{extra}")
        assert resp.status_code == 200, resp.text
        return [e["resource"] for e in resp.json().get("entry", [])]

    def org_id(self, name: str) -> str:
        return self.orgs[name]

    def dev(self, who: str, **extra: str) -> str:
        return dev_token(self.http, CODES[who], **extra)


def build(http, service) -> World:  # noqa: ANN001
    w = World(http, service)
    w.clients = {"register": Client(service, "90000000001", "register", "Population register"),
                 "hospital": Client(service, "40003000001", "hospital", "Riga East Hospital"),
                 "hospital_b": Client(service, "40003000002", "hospital", "Daugavpils Hospital"),
                 "pharmacy": Client(service, "40003000003", "pharmacy", "Central Pharmacy")}
    for name, c in w.clients.items():
        w.tokens[name] = c.token(http)
    with service.engine.connect() as conn:
        from sqlalchemy import select

        from ehr_core.access import schema
        for name, c in w.clients.items():
            w.orgs[name] = conn.execute(select(schema.client.c.organization_id).where(
                schema.client.c.client_id == c.id)).scalar_one()
    w.orgs["transplant"] = w.create("register", {
        "resourceType": "Organization", "name": "Transplant Centre",
        "type": [{"coding": [{"system": "https://evk.lv/fhir/CodeSystem/institution-designation",
                              "code": "transplant-centre"}]}]}).split("/")[1]

    # The population register: people, birth dates, custody and guardianship links.
    born = {"parent": years_ago(40), "kid": years_ago(10), "teen": years_ago(15), "ward18": years_ago(18),
            "ward17": years_ago(18, days=1), "exchild": years_ago(12), "adult": years_ago(45), "proxy": years_ago(50),
            "expired": years_ago(60), "revoker": years_ago(33), "future": years_ago(70), "far": years_ago(55),
            "doctor": years_ago(44), "pharmacist": years_ago(39), "officer": years_ago(41), "transplant": years_ago(52),
            "stranger": years_ago(30)}
    for who, birth in born.items():
        ref = w.create("register", {"resourceType": "Patient", "birthDate": birth,
                                     "name": [{"family": who.capitalize(), "given": ["Test"]}],
                                     "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": CODES[who]}]})
        w.patients[who] = ref.split("/")[1]
    for child, code, period in (("kid", "MTH", {"start": years_ago(10)}), ("teen", "FTH", {"start": years_ago(15)}),
                                ("ward18", "GUARD", {"start": years_ago(5)}), ("ward17", "PRN", {"start": years_ago(5)}),
                                ("exchild", "MTH", {"start": years_ago(12), "end": day(-1)})):
        w.create("register", {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{w.pid(child)}"},
                              "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": CODES["parent"]}],
                              "relationship": [{"coding": [{"system": ROLE, "code": code}]}], "period": period},
                 label=f"link-{child}")

    # Practitioners and their roles (directory data, loaded like the register's feed).
    def practitioner(who: str, org: str, role: tuple[str, str] | None = None) -> str:
        pr = _trusted_create(service, {"resourceType": "Practitioner", "name": [{"family": who.capitalize(), "given": ["Dr"]}],
                                        "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": CODES[who]}]})
        body = {"resourceType": "PractitionerRole", "active": True, "practitioner": {"reference": pr},
                "organization": {"reference": f"Organization/{w.org_id(org)}"}}
        if role:
            body["code"] = [{"coding": [{"system": role[0], "code": role[1]}]}]
        _trusted_create(service, body)
        return pr.split("/")[1]
    w.ids["doctor"] = practitioner("doctor", "hospital")
    w.ids["pharmacist"] = practitioner("pharmacist", "pharmacy",
                                       ("http://terminology.hl7.org/CodeSystem/practitioner-role", "pharmacist"))
    w.ids["officer"] = practitioner("officer", "register", ("https://evk.lv/fhir/CodeSystem/practitioner-role",
                                                            "registry-officer"))
    w.ids["transplant"] = practitioner("transplant", "transplant")

    # Clinical data, written by hospital A's system.
    for who in ("kid", "teen", "ward18", "ward17", "exchild", "adult", "expired", "revoker", "future", "far"):
        _clinical(w, who)
    # Treating relationships of hospital A's doctor: "adult" 10 days ago; "far" 100 days ago.
    w.create("hospital", {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                          "subject": {"reference": f"Patient/{w.pid('adult')}"},
                          "serviceProvider": {"reference": f"Organization/{w.org_id('hospital')}"},
                          "period": {"start": day(-10), "end": day(-10)}}, label="enc-adult-recent")
    w.create("hospital", {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                          "subject": {"reference": f"Patient/{w.pid('far')}"},
                          "serviceProvider": {"reference": f"Organization/{w.org_id('hospital')}"},
                          "period": {"start": day(-100), "end": day(-100)}})
    # Hospital B writes one observation for "adult".
    w.create("hospital_b", {"resourceType": "Observation", "status": "final", "category": [VITAL],
                            "code": {"text": "pulse"}, "subject": {"reference": f"Patient/{w.pid('adult')}"}},
             label="obs-adult-b")

    # People sign in (dev identity provider) and write their own grants and declarations.
    for who in ("parent", "kid", "teen", "ward17", "adult", "proxy", "expired", "revoker", "future", "stranger", "far"):
        w.tokens[who] = w.dev(who)
    for who in ("doctor", "pharmacist", "officer", "transplant"):
        w.tokens[who] = w.dev(who, practitioner=w.ids[who])
    declaration = {"resourceType": "Consent", "status": "active",
                   "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "adr"}]},
                   "category": [{"coding": [{"system": "https://evk.lv/fhir/CodeSystem/declaration-type",
                                             "code": "organ-tissue-donation"}]}], "provision": {"type": "permit"},
                   "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]}}
    # An adult declares with their own sign-in; the minor's declaration predates this service.
    w.create("adult", dict(declaration, patient={"reference": f"Patient/{w.pid('adult')}"}), label="decl-adult")
    _trusted_create(service, dict(declaration, patient={"reference": f"Patient/{w.pid('teen')}"}), w, "decl-teen")
    grant(w, "adult", "proxy", classes=[("https://evk.lv/fhir/CodeSystem/access-category", "lab-results")],
          audit_view=True, label="grant-adult")
    grant(w, "expired", "proxy", period={"start": day(-400), "end": day(-35)}, label="grant-expired")
    grant(w, "revoker", "proxy", label="grant-revoker")
    grant(w, "future", "proxy", status="proposed", future=True, period={"start": day(0), "end": day(1000)},
          label="grant-future")
    return w


def _trusted_create(service, body: dict, w: World | None = None, label: str | None = None) -> str:  # noqa: ANN001
    """Setup data that no rule under test writes (directory entries): the trusted loader's path."""
    from ehr_core.rest.messages import FhirRequest
    resp = service.handler.handle(FhirRequest("POST", body["resourceType"], [], {}, body))
    assert resp.status == 201, resp.body
    ref = f"{body['resourceType']}/{resp.body['id']}"
    if w is not None and label:
        w.ids[label] = ref
    return ref


def _clinical(w: World, who: str) -> None:
    pid = w.pid(who)
    subject = {"reference": f"Patient/{pid}"}
    enc = w.create("hospital", {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                                "subject": subject, "serviceProvider": {"reference": f"Organization/{w.org_id('hospital_b')}"},
                                "period": {"start": day(-400), "end": day(-400)}}, label=f"enc-{who}")
    w.create("hospital", {"resourceType": "Observation", "status": "final", "category": [LAB],
                          "code": {"text": "haemoglobin"}, "subject": subject,
                          "encounter": {"reference": enc}}, label=f"obs-{who}")
    w.create("hospital", {"resourceType": "Observation", "status": "final", "category": [LAB],
                          "meta": {"security": [HIV]}, "code": {"text": "HIV test"}, "subject": subject},
             label=f"obs-hiv-{who}")
    w.create("hospital", {"resourceType": "Condition", "subject": subject, "code": {"text": "asthma"}},
             label=f"cond-{who}")
    w.create("hospital", {"resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": subject,
                          "medicationCodeableConcept": {"text": "salbutamol"}}, label=f"rx-{who}")
    w.create("hospital", {"resourceType": "MedicationRequest", "status": "stopped", "intent": "order",
                          "subject": subject, "medicationCodeableConcept": {"text": "old drug"}}, label=f"rx-old-{who}")


def grant(w: World, grantor: str, proxy_who: str, *, classes=None, audit_view: bool = False, period=None,  # noqa: ANN001
          status: str = "active", future: bool = False, label: str | None = None) -> str:
    rp = w.create(grantor, {"resourceType": "RelatedPerson", "patient": {"reference": f"Patient/{w.pid(grantor)}"},
                            "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": CODES[proxy_who]}],
                            "name": [{"family": proxy_who.capitalize()}]})
    actions = [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentaction", "code": "access"}]}]
    if audit_view:
        actions.append({"coding": [{"system": "https://evk.lv/fhir/CodeSystem/proxy-action", "code": "audit-view"}]})
    provision: dict = {"type": "permit", "actor": [{"role": {"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/v3-RoleCode", "code": "POWATT"}]}, "reference": {"reference": rp}}],
        "action": actions}
    if period:
        provision["period"] = period
    if classes:
        provision["class"] = [{"system": s, "code": c} for s, c in classes]
    consent = {"resourceType": "Consent", "status": status,
               "scope": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/consentscope",
                                     "code": "patient-privacy"}]},
               "category": [{"coding": [{"system": "http://loinc.org", "code": "59284-0"}]}],
               "patient": {"reference": f"Patient/{w.pid(grantor)}"}, "dateTime": day(0), "provision": provision,
               "policyRule": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"}]}}
    if future:
        consent["category"].append({"coding": [{"system": "https://evk.lv/fhir/CodeSystem/grant-type",
                                                "code": "future-authorisation"}]})
    if period and period.get("end", "9999") < day(0):
        # An expired grant cannot be written as such by its grantor; it expired with time.
        return _trusted_create(w.service, consent, w, label)
    return w.create(grantor, consent, label=label)


_counter = [100]


def new_person(w: World, birth: str, name: str = "New") -> tuple[str, str]:
    """A fresh person in the register: (personal code, Patient id). For tests that change state."""
    _counter[0] += 1
    code = f"329{_counter[0]:08d}"
    ref = w.create("register", {"resourceType": "Patient", "birthDate": birth, "name": [{"family": name}],
                                "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": code}]})
    pid = ref.split("/")[1]
    w.patients[code] = pid
    w.tokens[code] = dev_token(w.http, code)
    return code, pid


def treat(w: World, pid: str, days_ago: int = 5) -> str:
    """An encounter at hospital A (the doctor's organisation) ``days_ago`` days ago."""
    return w.create("hospital", {"resourceType": "Encounter", "status": "finished", "class": {"code": "AMB"},
                                 "subject": {"reference": f"Patient/{pid}"},
                                 "serviceProvider": {"reference": f"Organization/{w.org_id('hospital')}"},
                                 "period": {"start": day(-days_ago), "end": day(-days_ago)}})
