"""What an organisation's system may see of its submissions (run after the guard allowed it):

- ``GET [base]/$submissions`` — its organisation's submissions and sandbox runs, newest first,
  each with the resource types and data categories it carried and every issue it was refused
  for (an OperationOutcome, as answered then). Paged: ``_count`` (default 20, at most 100),
  ``_offset``; narrowed by ``outcome`` (accepted|refused), ``sandbox`` (true|false), ``client``.
- ``GET [base]/$conformance-report`` — per data category, how the calling client (or ``client``,
  another client of the same organisation) fared: accepted / refused submissions, last success,
  the most frequent rule ids, sandbox runs.

Both answer a ``Parameters`` resource (the output of an operation that returns no resource).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from urllib.parse import urlencode

import orjson
from sqlalchemy import Connection, and_, func, literal_column, select

from ehr_core import errors
from ehr_core.errors import Issue, operation_outcome
from ehr_core.rest.messages import FhirRequest, FhirResponse
from ehr_core.storage.records import instant

from . import schema
from .categories import DATA_CATEGORY_SYSTEM, mapping
from .record import ACCEPTED, REFUSED

DEFAULT_COUNT, MAX_COUNT = 20, 100
TOP_RULES = 5
S, C, I = schema.submission.c, schema.submission_category.c, schema.submission_issue.c


def _int(req: FhirRequest, name: str, default: int, most: int | None = None) -> int:
    raw = dict(req.query).get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise errors.bad_request(f"{name} must be a non-negative integer, not {raw!r}")
    return min(int(raw), most) if most is not None else int(raw)


def _filters(req: FhirRequest, organization_id: str) -> list:
    q = dict(req.query)
    where = [S.organization_id == organization_id]
    if q.get("outcome"):
        if q["outcome"] not in (ACCEPTED, REFUSED):
            raise errors.bad_request(f"outcome is {ACCEPTED} or {REFUSED}, not {q['outcome']!r}")
        where.append(S.outcome == q["outcome"])
    if q.get("sandbox"):
        if q["sandbox"] not in ("true", "false"):
            raise errors.bad_request(f"sandbox is true or false, not {q['sandbox']!r}")
        where.append(S.sandbox == (q["sandbox"] == "true"))
    if q.get("client"):
        where.append(S.client_id == q["client"])
    return where


def submissions(req: FhirRequest, s, h) -> FhirResponse:  # noqa: ANN001
    p = req.principal
    count, offset = _int(req, "_count", DEFAULT_COUNT, MAX_COUNT), _int(req, "_offset", 0)
    where = and_(*_filters(req, p.organization_id))
    conn = s.conn
    total = conn.execute(select(func.count()).select_from(schema.submission).where(where)).scalar_one()
    rows = conn.execute(select(schema.submission).where(where).order_by(S.received.desc(), S.id.desc())
                        .limit(count).offset(offset)).all()
    ids = [r.id for r in rows]
    categories, issues = _categories(conn, ids), _issues(conn, ids)
    params = [{"name": "total", "valueInteger": total}]
    if offset + count < total:
        query = [(k, v) for k, v in req.query if k not in ("_count", "_offset")]
        params.append({"name": "next", "valueUri": f"{h.base}/$submissions?"
                       + urlencode([*query, ("_count", count), ("_offset", offset + count)])})
    params += [{"name": "submission", "part": _submission(r, categories[r.id], issues[r.id])} for r in rows]
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": params})


def _categories(conn: Connection, ids: list[str]) -> dict[str, list]:
    out: dict[str, list] = defaultdict(list)
    if ids:
        for r in conn.execute(select(schema.submission_category).where(C.submission_id.in_(ids))
                              .order_by(C.category)):
            out[r.submission_id].append(r)
    return out


def _issues(conn: Connection, ids: list[str]) -> dict[str, list[Issue]]:
    out: dict[str, list[Issue]] = defaultdict(list)
    if ids:
        for r in conn.execute(select(schema.submission_issue).where(I.submission_id.in_(ids))
                              .order_by(I.submission_id, I.seq)):
            expression = tuple(r.expression.split("\n")) if r.expression else ()
            out[r.submission_id].append(Issue(r.severity, r.code, r.message, expression, r.rule, r.message_lv))
    return out


def _category_coding(code: str) -> dict:
    display = next((c.display for c in mapping().categories if c.code == code), None)
    return {"system": DATA_CATEGORY_SYSTEM, "code": code, **({"display": display} if display else {})}


def _submission(r, categories: list, issues: list[Issue]) -> list[dict]:  # noqa: ANN001 - a submission row
    parts = [{"name": "id", "valueId": r.id}, {"name": "received", "valueInstant": instant(r.received)},
             {"name": "client", "valueString": r.client_id},
             {"name": "organization", "valueReference": {"reference": f"Organization/{r.organization_id}"}},
             {"name": "sandbox", "valueBoolean": bool(r.sandbox)}, {"name": "outcome", "valueCode": r.outcome},
             {"name": "status", "valueInteger": r.status}, {"name": "tier", "valueCode": r.tier}]
    counts = orjson.loads(r.resources)
    if counts:
        parts.append({"name": "resources", "part": [{"name": t, "valueInteger": n} for t, n in counts.items()]})
    parts += [{"name": "category", "part": [{"name": "code", "valueCoding": _category_coding(c.category)},
                                            {"name": "resources", "valueInteger": c.resources},
                                            {"name": "errors", "valueInteger": c.errors}]} for c in categories]
    if issues:
        parts.append({"name": "issues", "resource": operation_outcome(issues)})
    return parts


def conformance_report(req: FhirRequest, s, h) -> FhirResponse:  # noqa: ANN001
    """Per data category for one client: real submissions and sandbox runs counted apart."""
    p = req.principal
    client = dict(req.query).get("client") or p.client_id or p.subject
    mine = and_(S.client_id == client, S.organization_id == p.organization_id)   # never another organisation's
    conn = s.conn
    stats: dict[str, Counter] = defaultdict(Counter)
    last: dict[str, int] = {}
    faulty = C.errors > literal_column("0")          # a literal: PostgreSQL matches GROUP BY by text
    for r in conn.execute(
            select(C.category, S.sandbox, S.outcome, faulty, func.count(), func.max(S.received))
            .join(schema.submission, S.id == C.submission_id).where(mine)
            .group_by(C.category, S.sandbox, S.outcome, faulty)):
        category, sandbox, outcome, faulty, n, newest = r
        if sandbox:
            key = "sandbox-failed" if faulty else "sandbox-passed"
        else:                                          # refused-elsewhere: for other entries' errors
            key = ACCEPTED if outcome == ACCEPTED else "refused" if faulty else "refused-elsewhere"
        stats[category][key] += n
        if not sandbox and outcome == ACCEPTED:
            last[category] = max(last.get(category, 0), newest)
    rules: dict[str | None, Counter] = defaultdict(Counter)
    for category, rule, n in conn.execute(
            select(I.category, I.rule, func.count()).join(schema.submission, S.id == I.submission_id)
            .where(mine, S.sandbox.is_(False), I.severity.in_(("error", "fatal")))
            .group_by(I.category, I.rule)):
        rules[category][rule or "(none)"] += n
    params = [{"name": "client", "valueString": client},
              {"name": "organization", "valueReference": {"reference": f"Organization/{p.organization_id}"}}]
    for c in mapping().categories:
        st = stats.get(c.code, Counter())
        parts = [{"name": "code", "valueCoding": _category_coding(c.code)},
                 {"name": "accepted", "valueInteger": st["accepted"]},
                 {"name": "refused", "valueInteger": st["refused"]},
                 {"name": "refusedWithOthers", "valueInteger": st["refused-elsewhere"]},
                 {"name": "sandboxRuns", "valueInteger": st["sandbox-passed"] + st["sandbox-failed"]},
                 {"name": "sandboxFailed", "valueInteger": st["sandbox-failed"]}]
        if c.code in last:
            parts.append({"name": "lastSuccess", "valueInstant": instant(last[c.code])})
        parts += _top_rules(rules.get(c.code))
        params.append({"name": "category", "part": parts})
    if rules.get(None):
        params.append({"name": "uncategorised", "part": _top_rules(rules[None])})
    return FhirResponse(200, {"resourceType": "Parameters", "parameter": params})


def _top_rules(counts: Counter | None) -> list[dict]:
    return [{"name": "rule", "part": [{"name": "id", "valueCode": rule}, {"name": "count", "valueInteger": n}]}
            for rule, n in (counts or Counter()).most_common(TOP_RULES)]


submissions.definition = "https://evk.lv/fhir/OperationDefinition/submissions"  # type: ignore[attr-defined]
conformance_report.definition = "https://evk.lv/fhir/OperationDefinition/conformance-report"  # type: ignore[attr-defined]


def register(h) -> None:  # noqa: ANN001 - ehr_core.rest.handler.Handler
    h.operations[(None, "$submissions", False)] = submissions
    h.operations[(None, "$conformance-report", False)] = conformance_report
