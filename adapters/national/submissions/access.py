"""Who may read the submission log, and its audit.

``$submissions`` and ``$conformance-report`` go through the guard (``Guard.operations``, added
by ``ehr_core/service.py``): a system client of an organisation may read its organisation's
records (rule 21: a system sees what its organisation submitted); anyone else gets 403.

The guard's audit trail is per patient (one AuditEvent per patient per unit of work); these
reads concern no patient but do disclose what a hospital sent (issue messages quote identifiers
and codes), so each one — allowed or refused — gets an AuditEvent of its own in the same BALP
shape, with the organisation and the query as entities instead of a patient, written through
the guard's audit writer.
"""
from __future__ import annotations

import base64
from urllib.parse import urlencode

from ehr_core.access import rules as R
from ehr_core.access.decision import Context, Decision
from ehr_core.access.rules import Denied
from ehr_core.audit import journal
from ehr_core.audit.event import ENTITY_TYPE, OBJECT_ROLE, Access, Actor, audit_event
from ehr_core.rest.messages import FhirResponse
from ehr_core.storage.records import instant, now_micros

OPERATIONS = ("$submissions", "$conformance-report")
PURPOSE = "HOPERAT"      # v3-ActReason healthcare operations: a system checking its own submissions


def policies() -> dict:
    return {(None, name): decide for name in OPERATIONS}


def decide(ctx: Context) -> Decision:
    p = ctx.principal
    if not (p.is_system and p.organization_id):
        verdict = R.deny(R.DENY_BY_DEFAULT, "submission records are for the submitting organisation's systems")
        _audit(ctx, verdict.rule, "4", verdict.reason)
        raise Denied(verdict)
    verdict = R.allow(R.BACKEND_CLIENT, "the organisation's own submissions")

    def audited(resp: FhirResponse) -> FhirResponse:
        _audit(ctx, verdict.rule, "0")
        return resp
    return Decision(verdict, audit=False, after=audited)


def _audit(ctx: Context, rule: str, outcome: str, description: str = "") -> None:
    guard = ctx.guard
    if not getattr(guard, "audit_enabled", True):
        return
    p = ctx.principal
    actor = Actor(p.kind, p.name, p.personal_code, p.practitioner_id, p.client_id, p.organization_id)
    relation = "system" if p.is_system else "none"
    event = audit_event(actor, Access("", relation, PURPOSE, rule, outcome, description, [ctx.it.operation or ""]),
                        recorded=instant(now_micros()), server=guard.settings.fhir_base)
    query = ctx.req.path + ("?" + urlencode(ctx.req.query) if ctx.req.query else "")
    event["entity"] = [{"type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                        "role": {"system": OBJECT_ROLE, "code": "24", "display": "Query"},
                        "query": base64.b64encode(query.encode()).decode()}]
    if p.organization_id:
        event["entity"].insert(0, {"what": {"reference": f"Organization/{p.organization_id}"},
                                   "type": {"system": ENTITY_TYPE, "code": "2", "display": "System Object"},
                                   "role": {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"}})
    guard.audit_writer.submit([journal.entry_for_event(event, now_micros())])
