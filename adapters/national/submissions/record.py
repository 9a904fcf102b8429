"""One submission's record: who sent it, what it carried (resource types, data categories) and
what became of it (accepted or refused, with every issue), written as rows of ``schema``."""
from __future__ import annotations

import re
import uuid
from collections import Counter
from dataclasses import dataclass, field

import orjson
from sqlalchemy import Connection, insert

from ehr_core.errors import Issue
from ehr_core.storage.records import now_micros

from . import schema
from .categories import category_of
from .tier import tier_of

ACCEPTED, REFUSED = "accepted", "refused"
_ENTRY = re.compile(r"^Bundle\.entry\[(\d+)\]")


@dataclass
class Submission:
    organization_id: str
    client_id: str
    sandbox: bool
    resources: list[object]                   # per Bundle entry (or the one resource checked)
    tier: str | None = None                   # known once the client's registration was read
    envelope: list[Issue] = field(default_factory=list)   # a strict submission's envelope issues
    # Entry index -> the warnings of an entry that passed (kept in the log of an accepted one).
    warnings: dict[int, list[Issue]] = field(default_factory=dict)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    received: int = field(default_factory=now_micros)

    @classmethod
    def of(cls, principal, body: object, *, sandbox: bool) -> Submission:  # noqa: ANN001 - auth Principal
        """What a system sent: a Bundle's entries, or a single resource (sandbox)."""
        if type(body) is dict and body.get("resourceType") == "Bundle":
            entries = body.get("entry")
            resources = [e.get("resource") if type(e) is dict else None
                         for e in (entries if type(entries) is list else [])]
        else:
            resources = [body]
        return cls(principal.organization_id, principal.client_id or principal.subject, sandbox, resources)

    def write(self, conn: Connection, outcome: str, status: int, issues: list[Issue] | tuple[Issue, ...] = ()) -> None:
        counts = Counter(r["resourceType"] for r in self.resources
                         if type(r) is dict and type(r.get("resourceType")) is str)
        categories = [category_of(r) for r in self.resources]
        issue_rows = [_issue_row(self.id, seq, i, categories) for seq, i in enumerate(issues)]
        errors = Counter(row["category"] for row in issue_rows if row["severity"] in ("error", "fatal"))
        conn.execute(insert(schema.submission).values(
            id=self.id, organization_id=self.organization_id, client_id=self.client_id, received=self.received,
            sandbox=self.sandbox, outcome=outcome, status=status, tier=self.tier or tier_of(conn, self.client_id),
            resources=orjson.dumps(dict(sorted(counts.items()))).decode()))
        per_category = Counter(c for c in categories if c)
        if per_category:
            conn.execute(insert(schema.submission_category), [
                {"submission_id": self.id, "category": c, "resources": n, "errors": errors.get(c, 0)}
                for c, n in sorted(per_category.items())])
        if issue_rows:
            conn.execute(insert(schema.submission_issue), issue_rows)


def _issue_row(submission_id: str, seq: int, i: Issue, categories: list[str | None]) -> dict:
    """The issue as the client got it; its category is that of the entry it points into."""
    category = None
    m = _ENTRY.match(i.expression[0]) if i.expression else None
    if m and int(m.group(1)) < len(categories):
        category = categories[int(m.group(1))]
    elif len(categories) == 1 and i.expression and not i.expression[0].startswith("Bundle"):
        category = categories[0]                  # a single resource checked in the sandbox
    return {"submission_id": submission_id, "seq": seq, "severity": i.severity, "code": i.code, "rule": i.rule,
            "expression": "\n".join(i.expression) or None, "message": i.diagnostics, "message_lv": i.message_lv,
            "category": category}
