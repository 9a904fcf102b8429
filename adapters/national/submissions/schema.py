"""The submission log's tables, on the same metadata as the FHIR store (migration 0006).

Why tables and not FHIR resources: a refused submission stores nothing else, so its record
must not depend on the FHIR write path it was refused by; and the conformance report groups and
counts by client, category and rule, which is one SQL query over narrow rows.

Times are integers (µs since the epoch, UTC), as in ``ehr_core.storage.schema``.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, Integer, String, Table, Text

from ehr_core.storage.schema import ID, metadata

# One row per hospital submission (a system's transaction Bundle) and per sandbox run.
submission = Table(
    "submission", metadata,
    Column("id", String(32), primary_key=True),
    Column("organization_id", String(ID), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("received", BigInteger, nullable=False),
    Column("sandbox", Boolean, nullable=False),            # a $validate run: nothing was to be stored
    Column("outcome", String(16), nullable=False),         # accepted | refused
    Column("status", Integer, nullable=False),             # the HTTP status answered (sandbox: 200)
    Column("tier", String(16), nullable=False),            # strict | claimed (the client's conformance tier)
    Column("resources", Text, nullable=False),             # JSON {resource type: entries}
    Index("ix_submission_org_received", "organization_id", "received"),
    Index("ix_submission_client_received", "client_id", "received"),
)

# The data categories a submission carried: how many resources, how many with errors.
submission_category = Table(
    "submission_category", metadata,
    Column("submission_id", String(32), primary_key=True),
    Column("category", String(32), primary_key=True),
    Column("resources", Integer, nullable=False),
    Column("errors", Integer, nullable=False),             # issues of severity error/fatal in them
)

# Every issue of a refused submission (or a sandbox run), as the client was answered.
submission_issue = Table(
    "submission_issue", metadata,
    Column("submission_id", String(32), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("severity", String(16), nullable=False),
    Column("code", String(32), nullable=False),            # issue type
    Column("rule", String(64)),                            # rule id (details.coding.code)
    Column("expression", Text),                            # FHIRPath expressions, newline-separated
    Column("message", Text, nullable=False),               # English (diagnostics)
    Column("message_lv", Text),                            # Latvian (details.text)
    Column("category", String(32)),                        # the data category of the entry it is in
)

__all__ = ["submission", "submission_category", "submission_issue"]
