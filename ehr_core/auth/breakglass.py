"""Rule 17: break-glass. A clinician without a treating relationship states a reason,
re-confirms, and gets a token for one patient valid at most 4 hours. Issuing it writes an
AuditEvent coded as emergency override (DICOM 110113/110127, purpose of use BTG), a notice in
the patient's mailbox and an entry in the review list (``access_break_glass``); every use of the
token is audited the same way (``ehr_core.access.guard``).
"""
from __future__ import annotations

import time
import uuid
from dataclasses import replace

from sqlalchemy import insert

from ehr_core.access import mailbox
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access import schema
from ehr_core.access.clinician import roles_of
from ehr_core.audit.event import Access, Actor, audit_event
from ehr_core.auth.principal import BreakGlass, Principal
from ehr_core.auth.tokens import AuthError, IssuedToken
from ehr_core.storage.records import instant, now_micros

MAX_HOURS = 4
MIN_REASON = 10

__all__ = ["break_glass"]


def break_glass(service, p: Principal, form: dict[str, str]) -> IssuedToken:  # noqa: ANN001
    if not p.is_practitioner or not p.practitioner_id:
        raise AuthError("break-glass is for clinicians signed in as a Practitioner", error="access_denied", status=403)
    patient = (form.get("patient") or "").removeprefix("Patient/")
    reason = (form.get("reason") or "").strip()
    if len(reason) < MIN_REASON:
        raise AuthError(f"state the reason (at least {MIN_REASON} characters)", error="invalid_request", status=400)
    if (form.get("confirm") or "").lower() not in ("true", "yes", "1"):
        raise AuthError("re-confirm the emergency access with confirm=true", error="invalid_request", status=400)
    try:
        hours = float(form.get("hours") or MAX_HOURS)
    except ValueError:
        raise AuthError("hours must be a number", error="invalid_request", status=400) from None
    hours = min(max(hours, 0.1), MAX_HOURS)
    repo = service.repo
    with repo.session(write=True) as s:
        roles = roles_of(s.conn, p.practitioner_id, pt.today_riga())
        if not roles.clinical_orgs:
            raise AuthError("no active clinical PractitionerRole", error="access_denied", status=403)
        if not pt.read_current(s.conn, "Patient", [patient]):
            raise AuthError(f"Patient/{patient} is not known", error="invalid_request", status=400)
        now = int(time.time())
        expires = now + int(hours * 3600)
        review = uuid.uuid4().hex
        org = roles.clinical_orgs[0]
        s.conn.execute(insert(schema.break_glass).values(
            id=review, patient_id=patient, practitioner_id=p.practitioner_id, organization_id=org, reason=reason,
            issued=now_micros(), expires=expires * 1_000_000, reviewed=False))
        mailbox.break_glass(s, patient, p.name or f"Practitioner/{p.practitioner_id}", reason)
        actor = Actor(p.kind, p.name, p.personal_code, p.practitioner_id, None, org,
                      (pt.read_current(s.conn, "Organization", [org]).get(org) or {}).get("name"))
        access = Access(patient, "break-glass", "BTG", R.BREAK_GLASS, description=f"break-glass issued: {reason}",
                        interactions=["break-glass"], entities=[f"Patient/{patient}"], break_glass=True)
        s.create(audit_event(actor, access, recorded=instant(now_micros()), server=service.settings.fhir_base))
    granted = replace(p, break_glass=BreakGlass(patient, reason, expires, review), token_id=None)
    return service.tokens.issue(granted, ttl=int(hours * 3600))
