"""AuditEvents are valid FHIR R4 in the IHE BALP shape."""
from __future__ import annotations

from adapters.validation import StructureValidator
from ehr_core.audit.event import Access, Actor, audit_event


def test_events_validate_and_carry_who_whom_purpose_outcome():
    actor = Actor("practitioner", "Dr Ozols", "32000000020", "prac-1", None, "org-1", "Riga East Hospital")
    access = Access("pat-1", "break-glass", "BTG", "17", interactions=["read"], entities=["Observation/1"],
                    query="Observation?x=1", break_glass=True)
    event = audit_event(actor, access, recorded="2026-11-28T00:00:00.000Z", server="http://testserver/fhir")
    issues = [i for i in StructureValidator().validate(event) if i.severity in ("error", "fatal")]
    assert not issues, issues
    assert event["type"]["code"] == "110113" and event["subtype"][0]["code"] == "110127"
    assert event["agent"][0]["who"] == {"reference": "Practitioner/prac-1", "display": "Dr Ozols"}
    assert event["agent"][1]["who"]["display"] == "Riga East Hospital"
    assert event["entity"][0]["what"]["reference"] == "Patient/pat-1"
    assert event["purposeOfEvent"][0]["coding"][0]["code"] == "BTG" and event["outcome"] == "0"


def test_self_access_is_tagged_for_the_default_audit_view():
    actor = Actor("person", "Jānis", "32000000001")
    event = audit_event(actor, Access("p", "self", "PATRQT", "1", interactions=["search-type"], own_record=True),
                        recorded="2026-11-28T00:00:00.000Z", server="s")
    assert event["meta"]["tag"][0]["code"] == "self-access" and event["action"] == "E"
    assert not [i for i in StructureValidator().validate(event) if i.severity in ("error", "fatal")]
