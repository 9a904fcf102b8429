"""Decisions for reads (read, vread, instance history), searches, type/system history and
``$everything``: a read is decided on the stored row; everything returning many resources is
narrowed in its query (``restrict``), so counts, pages, includes and links never show more.
"""
from __future__ import annotations

from dataclasses import replace


from sqlalchemy import and_, or_

from ehr_core.access import binary, labels, limits, scoping
from ehr_core.access import patients as pt
from ehr_core.access import rules as R
from ehr_core.access.decision import Context, Decision
from ehr_core.access.evaluate import evaluate, evaluate_read, no_grant_verdict, refusal
from ehr_core.access.grants import READ, SEARCH, Entitlements, Grant
from ehr_core.access.rules import Denied
from ehr_core.rest.messages import FhirResponse

__all__ = ["decide_read", "decide_search", "decide_everything", "restrict_for"]


def _scope_or_deny(ctx: Context, rt: str, letter: str, patients: tuple[str, ...] = ()) -> None:
    refused = scoping.check(ctx.principal, rt, letter)
    if refused is not None:
        raise Denied(refused, patients)


def _grants(ents: Entitlements, action: str, *, audit_view_by_default: bool = True) -> list[Grant]:
    grants = ents.with_action(action)
    if audit_view_by_default:
        return grants
    # Rule 2: one's own accesses are left out of one's audit view unless asked for.
    return [replace(g, limits=(*g.limits, limits.self_access_hidden())) if g.relation == "self" else g
            for g in grants]


def restrict_for(ctx: Context, action: str = SEARCH, *, show_own_access: bool = True):  # noqa: ANN201
    grants = _grants(ctx.ents, action, audit_view_by_default=show_own_access)
    scope = scoping.clause(ctx.principal, "s")
    types = _reachable_types(ctx)

    def restrict(r):  # noqa: ANN001, ANN202
        if not grants:
            return and_(r.c.id.is_(None), r.c.id.is_not(None))   # nothing
        return and_(scope(r), or_(*(g.clause(r, types) for g in grants)))
    if not ctx.principal.is_system:
        return restrict
    # A system client's grants outlive the request (guard.entitlements), so the clause built
    # for the search's resource alias can be too: building it costs more than the query.
    key = (ctx.principal, action, types, show_own_access)

    def kept(r):  # noqa: ANN001, ANN202
        found = _kept_clauses.get(key)
        if found is None or found[0] is not r:
            if len(_kept_clauses) >= 4096:
                _kept_clauses.clear()
            found = _kept_clauses[key] = (r, restrict(r))
        return found[1]
    return kept


# (principal, action, types, show own access) -> (the alias it was built for, the clause)
_kept_clauses: dict[tuple, tuple[object, object]] = {}


def _reachable_types(ctx: Context) -> frozenset[str] | None:
    """The types a search can return or look into: just its own type unless it includes,
    chains or reverse-chains into others (then None: any type). Keeps the narrowing small."""
    it, req = ctx.it, ctx.req
    if it.kind not in ("search", "history") or it.resource_type is None:
        return None
    for name, _ in req.query:
        base = name.split(":")[0]
        if base in ("_include", "_revinclude", "_has") or "." in base or name.startswith("_has"):
            return None
    return frozenset({it.resource_type})


def _tombstone_patients(ctx: Context, rt: str, id: str, version: int) -> tuple[str, ...]:
    """The patients of a deleted resource, from its last version before the deletion."""
    if version <= 1:
        return ()
    try:
        prev = ctx.s.vread(rt, id, version - 1)
    except Exception:   # noqa: BLE001 - no usable earlier version: nobody's, so nobody's to see
        return ()
    rows = ctx.guard.indexer.extract(prev.resource())
    return (id,) if rt == "Patient" else pt.patients_in_rows(rt, rows)


def decide_read(ctx: Context) -> Decision:
    it, s = ctx.it, ctx.s
    rt, id = it.resource_type, it.id
    assert rt is not None and id is not None
    grants = ctx.ents.with_action(READ)
    current, patients, (grant, failed, covering, _) = evaluate_read(
        s.conn, rt, id, grants, scoping.clause(ctx.principal, "r"),
        reuse=ctx.principal if ctx.principal.is_system else None)
    s.remember_current(rt, id, current)
    if current is None:
        _scope_or_deny(ctx, rt, "r")
        return Decision(R.allow(R.DENY_BY_DEFAULT, "unknown id: the handler answers 404"), audit=False)
    if current.deleted:
        patients = _tombstone_patients(ctx, rt, id, current.version_id)
        _scope_or_deny(ctx, rt, "r", patients)
        if patients and set(patients) <= set(ctx.ents.own_patients):
            return Decision(R.allow(R.SELF, "own deleted resource"), patients=patients, entities=[f"{rt}/{id}"])
        raise Denied(R.deny(R.DENY_BY_DEFAULT, "deleted", 404), patients)
    _scope_or_deny(ctx, rt, "r", patients)
    if grant is None and rt == "Binary" and not failed:
        return binary.decide_read(ctx, current)        # decided by its securityContext
    if grant is None:
        if failed:
            raise Denied(refusal(failed), patients)
        if covering:
            raise Denied(R.deny(R.SCOPE, "outside the token's granular scopes"), patients)
        raise Denied(no_grant_verdict(ctx.principal, ctx.ents, patients, ctx.guard.settings.treating_days), patients)
    decision = Decision(R.allow(grant.rule, grant.relation), grant, patients, [f"{rt}/{id}"])
    hides_sensitive = any(lim.rule == R.SENSITIVE_14 for lim in grant.limits)
    if it.kind == "vread" and hides_sensitive and it.version and it.version.isdigit():
        # The current version decided; an older version may carry labels the current one lost.
        try:
            old = s.vread(rt, id, int(it.version))
        except Exception:   # noqa: BLE001 - the handler gives the proper 404/410
            return decision
        if labels.is_sensitive(old.resource()):
            raise Denied(R.deny(R.SENSITIVE_14, "sensitive version", 404), patients)
    if it.kind == "history":
        decision.restrict = restrict_for(ctx, READ)
        if hides_sensitive:
            decision.after = _drop_sensitive_versions
    return decision


def _drop_sensitive_versions(resp: FhirResponse) -> FhirResponse:
    body = resp.body or {}
    body["entry"] = [e for e in body.get("entry") or [] if not labels.is_sensitive(e.get("resource") or {})]
    return resp


def _compartment_or_deny(ctx: Context, patient_id: str, action: str) -> Grant:
    grants = ctx.ents.with_action(action)
    grant, _, _, _ = evaluate(ctx.s.conn, "Patient", patient_id, grants, covers_only=True)
    if grant is None or grant.relation in ("directory", "designated-institution"):
        raise Denied(no_grant_verdict(ctx.principal, ctx.ents, (patient_id,), ctx.guard.settings.treating_days),
                     (patient_id,))
    return grant


def decide_search(ctx: Context) -> Decision:
    it, req = ctx.it, ctx.req
    if it.resource_type:
        _scope_or_deny(ctx, it.resource_type, "s")
    patients: tuple[str, ...] = ()
    if it.compartment is not None:
        _compartment_or_deny(ctx, it.compartment[1], SEARCH)
        patients = (it.compartment[1],)
    names = {k.split(":")[0] for k, _ in req.query}
    show_own = any(k.startswith("_tag") and limits.SELF_ACCESS in v for k, v in req.query)
    if it.resource_type == "AuditEvent" and "_sort" not in names:
        req.query.append(("_sort", "-date"))       # rule 24: newest first
    query = req.path + ("?" + "&".join(f"{k}={v}" for k, v in req.query) if req.query else "")
    decision = Decision(R.allow(R.DENY_BY_DEFAULT, "narrowed in the query"), patients=patients,
                        restrict=restrict_for(ctx, SEARCH, show_own_access=show_own), from_response=True, query=query)
    if it.kind == "history" and any(lim.rule == R.SENSITIVE_14 for g in ctx.ents.grants for lim in g.limits):
        # The narrowing sees current versions; an older version may carry labels since removed.
        decision.after = _drop_sensitive_versions
    return decision


def decide_everything(ctx: Context) -> Decision:
    pid = ctx.it.id
    assert pid is not None
    _scope_or_deny(ctx, "Patient", "r", (pid,))
    grant = _compartment_or_deny(ctx, pid, READ)
    return Decision(R.allow(grant.rule, grant.relation), grant, (pid,), restrict=restrict_for(ctx, SEARCH),
                    from_response=True, query=ctx.req.path)


def entries_of(resp: FhirResponse) -> list[tuple[str, str]]:
    body = resp.body or {}
    out = []
    for e in body.get("entry") or []:
        res = e.get("resource") or {}
        if res.get("resourceType") and res.get("id") and res["resourceType"] != "OperationOutcome":
            out.append((res["resourceType"], res["id"]))
    return out


