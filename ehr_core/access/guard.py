"""The access-control choke point: every FHIR interaction with a principal goes through
``Guard.run`` (called from ``Handler.dispatch``; transaction and batch entries re-enter it).

Deny by default. ``run`` classifies the interaction, decides (``reads``, ``writes``, operation
policies), names the deciding rule, narrows queries (``FhirRequest.restrict``), runs the
interaction, and records the access in the unit of work's audit trail — on success and on
refusal (``ehr_core.audit.trail``). A refusal answers 403 with an OperationOutcome naming the
rule, or 404 where existence must not leak (rule 5).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlencode

from ehr_core import errors
from ehr_core.access import patients as pt
from ehr_core.access import breakglass_review, reads, rules as R, self_service, writes
from ehr_core.access.decision import Context, Decision
from ehr_core.access.entitlements import resolve
from ehr_core.access.grants import Entitlements, Grant
from ehr_core.access.interaction import classify
from ehr_core.access.rules import Denied
from ehr_core.audit import trail as audit_trail
from ehr_core.audit.event import Access, Actor
from ehr_core.audit.writer import AuditWriter
from ehr_core.auth.principal import Principal
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.storage.repository import Repository, Session

log = logging.getLogger(__name__)

Route = Callable[[FhirRequest, Session], FhirResponse]
Policy = Callable[[Context], Decision]

__all__ = ["Guard"]


def sandbox_policies() -> dict[tuple[str | None, str], Policy]:
    """``$validate`` stores nothing and is for system developers: any system client may call it.

    It still answers whether a referenced id exists, so persons get no access to it.
    """
    from ehr_core import definitions

    def validate_policy(ctx: Context) -> Decision:
        if not ctx.principal.is_system:
            raise Denied(R.deny(R.DENY_BY_DEFAULT, "the validation sandbox is for hospital and other systems"))
        return Decision(R.allow(R.BACKEND_CLIENT, "validation sandbox: nothing is stored"), audit=False)

    return {(rt, "$validate"): validate_policy for rt in (None, *definitions.resource_types())}


class Guard:
    def __init__(self, repo: Repository, settings) -> None:  # noqa: ANN001
        self.repo = repo
        self.settings = settings
        self.indexer = repo.indexer
        self.stats = audit_trail.AuditStats()
        self.audit_enabled = getattr(settings, "audit", True)
        self.audit_process = None
        write_batch = self._write_events
        if getattr(settings, "audit_process", False):
            from ehr_core.audit.process import AuditProcess
            self.audit_process = AuditProcess(settings.database_url, durable=getattr(settings, "audit_sync", False))
            write_batch = self._counted(self.audit_process)
        self.audit_writer = AuditWriter(write_batch, sync=getattr(settings, "audit_sync", False))
        # (resource type or None, "$name") -> policy. Operations not listed are refused.
        self.operations: dict[tuple[str | None, str], Policy] = {("Patient", "$everything"): reads.decide_everything,
                                                                  **self_service.POLICIES,
                                                                  **breakglass_review.POLICIES,
                                                                  **sandbox_policies()}
        self._org_names: dict[str, str | None] = {}
        self._clients: dict[Principal, Entitlements] = {}

    # --- the choke point -------------------------------------------------------------------------
    def run(self, req: FhirRequest, s: Session, route: Route) -> FhirResponse:
        p = req.principal
        assert p is not None
        it = classify(req)
        if it.kind == "capabilities":
            return route(req, s)
        if p.is_anonymous:
            raise errors.FhirError(401, [errors.Issue("error", "login", "Sign in first: this needs a bearer token",
                                                      rule=f"access-{R.AUTHENTICATED}")],
                                   {"WWW-Authenticate": 'Bearer realm="evk"'})
        ents = self.entitlements(s, p)
        ctx = Context(p, ents, it, req, s, self)
        try:
            decision = self._decide(ctx)
        except Denied as denied:
            self._record_refusal(ctx, denied)
            ref = f"{it.resource_type}/{it.id}" if it.resource_type and it.id else None
            raise denied.verdict.error(ref) from None
        if decision.restrict is not None:
            req.restrict = decision.restrict
        try:
            resp = route(req, s)
        except errors.FhirError as exc:
            if decision.audit:
                self._record(ctx, decision, resp=None, failure=exc)
            raise
        if decision.after is not None:
            resp = decision.after(resp)
        if decision.audit:
            self._record(ctx, decision, resp)
        return resp

    def _decide(self, ctx: Context) -> Decision:
        it = ctx.it
        if it.kind in ("read", "vread") or (it.kind == "history" and it.id):
            return reads.decide_read(ctx)
        if it.kind in ("search", "history"):
            return reads.decide_search(ctx)
        if it.is_write:
            return writes.decide_write(ctx)
        if it.kind == "operation":
            policy = self.operations.get((it.resource_type, it.operation or ""))
            if policy is None:
                raise Denied(R.deny(R.DENY_BY_DEFAULT, f"operation {it.operation} has no access policy"))
            return policy(ctx)
        raise Denied(R.deny(R.DENY_BY_DEFAULT, f"no interaction at {ctx.req.method} {ctx.req.path}", 404))

    # --- entitlements, shared by the entries of one unit of work ---------------------------------
    def entitlements(self, s: Session, p: Principal) -> Entitlements:
        cache = getattr(s, "access_entitlements", None)
        if cache is None:
            cache = s.access_entitlements = {}  # type: ignore[attr-defined]
        key = (p.kind, p.subject, p.token_id)
        if key not in cache:
            cache[key] = self._clients.get(p) if p.is_system else None
            if cache[key] is None:
                cache[key] = resolve(s.conn, p, treating_days=self.settings.treating_days)
                if p.is_system:
                    # A system client's grants follow from its token alone (client.py); a
                    # person's or clinician's follow from data and are resolved every request.
                    if len(self._clients) >= 1024:
                        self._clients.clear()
                    self._clients[p] = cache[key]
        return cache[key]

    # --- audit -------------------------------------------------------------------------------------
    def _trail(self, ctx: Context) -> audit_trail.AuditTrail | None:
        if not self.audit_enabled:
            return None
        p = ctx.principal
        org = ctx.ents.organizations[0] if ctx.ents.organizations else None

        def make() -> audit_trail.AuditTrail:
            actor = Actor(p.kind, p.name, p.personal_code, p.practitioner_id, p.client_id, org,
                          self._org_name(ctx.s, org))
            return audit_trail.AuditTrail(actor, self.settings.fhir_base)
        # Writes: audit in their own transaction (as durable as the data). Reads: group commit
        # through the writer (one small transaction per request would double a read's cost).
        same_tx = ctx.s.write
        return audit_trail.attach(ctx.s, make, self.audit_writer, self.stats, same_transaction=same_tx)

    def _counted(self, write_batch):  # noqa: ANN001, ANN202
        def write(events: list[dict]) -> None:
            write_batch(events)
            self.stats.events += len(events)
        return write

    def _write_events(self, events: list[dict]) -> None:
        audit_trail.append_batch(self.repo, events, self.stats, durable=getattr(self.settings, "audit_sync", False))

    def _org_name(self, s: Session, org: str | None) -> str | None:
        if org is None:
            return None
        if org not in self._org_names:
            found = pt.read_current(s.conn, "Organization", [org]).get(org) or {}
            self._org_names[org] = found.get("name")
        return self._org_names[org]

    def _access(self, ctx: Context, patient: str, decision_grant: Grant | None, rule: str | None,
                outcome: str = "0", description: str = "") -> Access:
        grant = decision_grant if decision_grant is not None and _names(decision_grant, patient) is not False \
            else self._grant_for(ctx.ents, patient)
        relation = grant.relation if grant else "none"
        purpose = grant.purpose if grant else "PATRQT"
        bg = ctx.principal.break_glass
        is_bg = bg is not None and bg.patient_id == patient and (grant is None or grant.relation == "break-glass")
        if is_bg:
            relation, purpose = "break-glass", "BTG"
        acting = None
        if grant is not None and grant.source and grant.source.startswith("RelatedPerson/"):
            acting = grant.source
        if rule is None:                  # a search: each patient's own grant decided
            rule = grant.rule if grant is not None else R.DENY_BY_DEFAULT
        return Access(patient, relation, purpose, rule,
                      outcome, description, [ctx.it.restful if ctx.it.kind != "operation" else ctx.it.operation],
                      own_record=patient in ctx.ents.own_patients and relation == "self",
                      acting_ref=acting, break_glass=is_bg)

    @staticmethod
    def _grant_for(ents: Entitlements, patient: str) -> Grant | None:
        named = [g for g in ents.grants if _names(g, patient)]
        if named:
            return named[0]
        return next((g for g in ents.grants if g.patients is not None and not isinstance(g.patients, tuple)),
                    next((g for g in ents.grants if g.relation not in ("directory",)), None))

    def _record(self, ctx: Context, decision: Decision, resp: FhirResponse | None,
                failure: errors.FhirError | None = None) -> None:
        trail = self._trail(ctx)
        if trail is None:
            return
        by_patient: dict[str, list[str]] = {p: list(decision.entities) for p in decision.patients}
        if decision.from_response and resp is not None:
            # BALP PatientQuery: the patient and the query identify what was disclosed; listing
            # every result as an entity would make the trail cost grow with the page size.
            keys = reads.entries_of(resp)
            for owners in pt.patients_of_many(ctx.s.conn, keys).values():
                for owner in owners:
                    by_patient.setdefault(owner, [])
            # A search naming a patient concerns that patient even when it finds nothing.
            for name, value in ctx.req.query:
                if name.split(":")[0] in ("patient", "subject"):
                    for v in value.split(","):
                        v = v.removeprefix("Patient/")
                        if v and "/" not in v:
                            by_patient.setdefault(v, [])
        outcome, description = "0", ""
        if failure is not None:
            outcome = "8" if failure.status >= 500 else "4"
            description = f"HTTP {failure.status}: " + "; ".join(i.diagnostics for i in failure.issues)[:500]
        for patient, entities in by_patient.items():
            if not patient:
                continue
            rule = None if decision.from_response and decision.grant is None else decision.verdict.rule
            a = self._access(ctx, patient, decision.grant, rule, outcome, description)
            a.entities = entities
            a.query = decision.query
            trail.add(a)

    def _record_refusal(self, ctx: Context, denied: Denied) -> None:
        trail = self._trail(ctx)
        if trail is None:
            return
        v = denied.verdict
        ref = f"{ctx.it.resource_type}/{ctx.it.id}" if ctx.it.resource_type and ctx.it.id else None
        for patient in denied.patients:
            a = self._access(ctx, patient, None, v.rule, "4", v.reason)
            a.rule = v.rule
            a.entities = [ref] if ref else []
            if ctx.req.query:
                a.query = ctx.req.path + "?" + urlencode(ctx.req.query)
            trail.add(a)


def _names(g: Grant, patient: str) -> bool | None:
    return g.names_patient(patient)

