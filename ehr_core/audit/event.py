"""AuditEvent resources in the shape of IHE Basic Audit Log Patterns (BALP)
(https://profiles.ihe.net/ITI/BALP/): RESTful type and interaction subtype, the user agent
(who, with name, role, purpose of use), the organisation acted for, the server, the patient
entity and the data or query entities, and the outcome.

Break-glass use is coded as an emergency override (DICOM 110113 Security Alert with subtype
110127 Emergency Override Started, purpose of use BTG), as access-rules.md rule 17 asks.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field

from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
from ehr_core.access.limits import AUDIT_TAG_SYSTEM, SELF_ACCESS
from ehr_core.access.rules import RULE_SYSTEM, label

BALP = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL = "http://hl7.org/fhir/restful-interaction"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ROLE_CLASS = "http://terminology.hl7.org/CodeSystem/v3-RoleClass"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
RELATION_SYSTEM = "https://evk.lv/fhir/CodeSystem/access-relation"
CLIENT_ID_SYSTEM = "https://evk.lv/fhir/sid/client-id"
OPERATION_SYSTEM = "http://hl7.org/fhir/operation"
EVK_SUBTYPE = "https://evk.lv/fhir/CodeSystem/audit-subtype"
RESTFUL_CODES = {"read", "vread", "update", "patch", "delete", "history", "history-instance", "history-type",
                 "history-system", "create", "search", "search-type", "search-system", "capabilities",
                 "transaction", "batch", "operation"}
ENTITY_CAP = 100      # entities listed per event; the query entity says what was asked

ACTIONS = {"create": "C", "update": "U", "patch": "U", "delete": "D", "read": "R", "vread": "R",
           "history-instance": "R"}
PROFILES = {"create": "PatientCreate", "update": "PatientUpdate", "patch": "PatientUpdate",
            "delete": "PatientDelete", "read": "PatientRead", "vread": "PatientRead",
            "history-instance": "PatientRead"}
RELATIONS = {"self": "The person themself", "guardian": "Parent or guardian", "proxy": "Authorised proxy",
             "clinician": "Treating clinician", "break-glass": "Clinician under emergency override",
             "pharmacist": "Pharmacist", "designated-institution": "Designated institution",
             "system": "Organisation's system", "directory": "Directory reader", "none": "No entitlement"}

__all__ = ["Actor", "Access", "audit_event"]


@dataclass(frozen=True)
class Actor:
    """Who acted, as the audit view shows it (rule 24: name, role and organisation)."""
    kind: str                                   # person | practitioner | system
    name: str | None = None
    personal_code: str | None = None
    practitioner_id: str | None = None
    client_id: str | None = None
    organization_id: str | None = None
    organization_name: str | None = None


@dataclass
class Access:
    """What happened to one patient's data in one unit of work."""
    patient_id: str
    relation: str                               # self | guardian | proxy | clinician | ... | none
    purpose: str                                # v3-ActReason code
    rule: str
    outcome: str = "0"                          # 0 success, 4 minor failure (denied), 8 serious failure
    description: str = ""
    interactions: list[str] = field(default_factory=list)
    entities: list[str] = field(default_factory=list)
    query: str | None = None
    own_record: bool = False                    # rule 2: the person reading their own record
    acting_ref: str | None = None               # e.g. RelatedPerson/<id> the guardian link or grant names
    break_glass: bool = False


def _coding(system: str, code: str, display: str | None = None) -> dict:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _user_agent(actor: Actor, a: Access) -> dict:
    agent: dict = {"type": {"coding": [_coding(PARTICIPATION, "IRCP", "information recipient")]},
                   "requestor": True,
                   "role": [{"coding": [_coding(RELATION_SYSTEM, a.relation, RELATIONS.get(a.relation))]}],
                   "purposeOfUse": [{"coding": [_coding(ACT_REASON, a.purpose)]}]}
    if actor.kind == "practitioner" and actor.practitioner_id:
        agent["who"] = {"reference": f"Practitioner/{actor.practitioner_id}"}
    elif actor.kind == "system":
        agent["who"] = {"identifier": {"system": CLIENT_ID_SYSTEM, "value": actor.client_id or "?"}}
    elif a.own_record:
        agent["who"] = {"reference": f"Patient/{a.patient_id}"}
    elif a.acting_ref:
        agent["who"] = {"reference": a.acting_ref}
    else:
        agent["who"] = {"identifier": {"system": PERSONAL_CODE_SYSTEM, "value": actor.personal_code or "?"}}
    if actor.name:
        agent["name"] = actor.name
        agent["who"]["display"] = actor.name
    return agent


def audit_event(actor: Actor, a: Access, *, recorded: str, server: str) -> dict:
    kinds = list(dict.fromkeys(a.interactions)) or ["read"]
    first = kinds[0]
    action = ACTIONS.get(first, "E")
    profile = PROFILES.get(first, "PatientQuery" if first.startswith(("search", "history")) else "PatientRead")
    event: dict = {"resourceType": "AuditEvent", "meta": {"profile": [BALP + "IHE.BasicAudit." + profile]}}
    if a.own_record:
        event["meta"]["tag"] = [_coding(AUDIT_TAG_SYSTEM, SELF_ACCESS, "own access")]
    subtypes = [_coding(RESTFUL if k in RESTFUL_CODES else OPERATION_SYSTEM if k.startswith("$") else EVK_SUBTYPE, k)
                for k in kinds]
    if a.break_glass:
        event["type"] = _coding(DCM, "110113", "Security Alert")
        subtypes.insert(0, _coding(DCM, "110127", "Emergency Override Started"))
    else:
        event["type"] = _coding(EVENT_TYPE, "rest", "Restful Operation")
    event["subtype"] = subtypes
    event["action"] = action
    event["recorded"] = recorded
    event["outcome"] = a.outcome
    event["outcomeDesc"] = (("allowed by " if a.outcome == "0" else "refused: ") + label(a.rule)
                            + (f": {a.description}" if a.description else ""))
    event["purposeOfEvent"] = [{"coding": [_coding(ACT_REASON, a.purpose)]}]
    user = _user_agent(actor, a)
    user["policy"] = [f"{RULE_SYSTEM}#{a.rule}"]        # the deciding rule of access-rules.md
    agents = [user]
    if actor.organization_id:
        org = {"reference": f"Organization/{actor.organization_id}"}
        if actor.organization_name:
            org["display"] = actor.organization_name
        agents.append({"type": {"coding": [_coding(ROLE_CLASS, "PROV", "healthcare provider")]},
                       "who": org, "requestor": False})
    agents.append({"type": {"coding": [_coding(DCM, "110152", "Destination Role ID")]},
                   "who": {"display": "EVK"}, "requestor": False,
                   "network": {"address": server, "type": "5"}})
    event["agent"] = agents
    event["source"] = {"site": "EVK", "observer": {"display": server},
                       "type": [_coding(SOURCE_TYPE, "4", "Application Server")]}
    entities = [{"what": {"reference": f"Patient/{a.patient_id}"}, "type": _coding(ENTITY_TYPE, "1", "Person"),
                 "role": _coding(OBJECT_ROLE, "1", "Patient")}]
    for ref in list(dict.fromkeys(a.entities))[:ENTITY_CAP]:
        if ref != f"Patient/{a.patient_id}":
            entities.append({"what": {"reference": ref}, "type": _coding(ENTITY_TYPE, "2", "System Object"),
                             "role": _coding(OBJECT_ROLE, "4", "Domain Resource")})
    if a.query is not None:
        entities.append({"type": _coding(ENTITY_TYPE, "2", "System Object"), "role": _coding(OBJECT_ROLE, "24", "Query"),
                         "query": base64.b64encode(a.query.encode()).decode()})
    event["entity"] = entities
    return event
