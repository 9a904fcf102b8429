"""Who reads a ``Binary``: the rules of the resource its ``securityContext`` names.

A Binary (a document's PDF, a scan) belongs to no patient compartment, so no patient grant
reaches it directly. FHIR's ``Binary.securityContext`` says which resource's access rules apply
to it (binary.html#security); when a principal's own grants do not reach the Binary (only the
submitting organisation's do, rule 21), the read is decided as a read of that resource, with
everything that implies: a guardian gets 404 for a Binary whose DocumentReference is sensitive
or hidden (rules 5, 6), a proxy 403 outside the grant's categories (rule 10), a banned
clinician 403 (rule 18), and the audit names the context's patient (rule 22).

``DocumentReference.content.attachment.url`` pointing at the Binary grants nothing: any writer
can put any URL in a document, so only the Binary's own ``securityContext`` counts. A Binary
without one is read only by the organisation that submitted it. Searches and history of
Binaries stay with the submitting organisation (nothing of them shows to anyone else).
"""
from __future__ import annotations

from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access.decision import Context, Decision
from ehr_core.access.evaluate import evaluate, no_grant_verdict, refusal
from ehr_core.access.grants import READ
from ehr_core.access.rules import Denied
from ehr_core.storage.records import StoredResource

__all__ = ["decide_read", "security_context"]


def security_context(binary: dict) -> tuple[str, str] | None:
    ref = (binary.get("securityContext") or {}).get("reference") or ""
    parts = ref.split("/")
    return (parts[-2], parts[-1]) if len(parts) >= 2 and parts[-2] and parts[-1] else None


def decide_read(ctx: Context, stored: StoredResource) -> Decision:
    """A read or vread of a Binary no grant reaches directly (raises Denied when refused)."""
    it, s = ctx.it, ctx.s
    days = ctx.guard.settings.treating_days
    target = security_context(stored.resource())
    if target is None or it.kind == "history":
        raise Denied(no_grant_verdict(ctx.principal, ctx.ents, (), days))
    if it.kind == "vread" and it.version and it.version.isdigit() and it.version != str(stored.version_id):
        try:
            old = s.vread("Binary", stored.id, int(it.version))
        except Exception:   # noqa: BLE001 - the handler gives the proper 404/410
            old = None
        if old is not None and security_context(old.resource()) != target:
            # An older version under another context: decided as unknown rather than by the wrong rules.
            raise Denied(R.deny(R.DENY_BY_DEFAULT, "another security context", 404))
    rt, id = target
    patients = (id,) if rt == "Patient" else pt.patients_of(s.conn, rt, id)
    grant, failed, _, _ = evaluate(s.conn, rt, id, ctx.ents.with_action(READ))
    if grant is None:
        raise Denied(refusal(failed) if failed else no_grant_verdict(ctx.principal, ctx.ents, patients, days),
                     patients)
    return Decision(R.allow(grant.rule, f"{grant.relation}, through the Binary's securityContext {rt}/{id}"),
                    grant, patients, [f"Binary/{stored.id}", f"{rt}/{id}"])
