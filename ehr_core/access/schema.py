"""Tables of identity, access control and audit, on the same metadata as the FHIR store.

Why tables and not FHIR resources: these rows are consulted on every request (signing keys,
client registrations, bans, hidden items, who submitted what) and must be cheap to narrow a
search with in SQL; none of them is clinical data a client should read or write through the
FHIR API. Grants (Consent) and register links (RelatedPerson) stay plain FHIR, because the
grantor and the register write them through the API.

Times are integers (µs since the epoch, UTC), as in ``ehr_core.storage.schema``.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, Index, String, Table, Text

from ehr_core.storage.schema import ID, TYPE, metadata

# Token signing keys (ES256). The newest key signs; every key not yet retired verifies, so a
# rotation never invalidates tokens already handed out (keys rotate without downtime).
signing_key = Table(
    "auth_signing_key", metadata,
    Column("kid", String(64), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_pem", Text, nullable=False),
    Column("public_jwk", Text, nullable=False),
    Column("created", BigInteger, nullable=False),
    Column("retire_after", BigInteger, nullable=False),   # not used for verification after this
)

# SMART Backend Services clients (`evk clients add`).
client = Table(
    "auth_client", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("organization_id", String(ID), nullable=False),     # Organization resource id
    Column("organization_code", String(64), nullable=False),   # institution register code
    Column("role", String(32), nullable=False),                # hospital|pharmacy|register|contact-point
    Column("jwks", Text, nullable=False),                      # the client's public keys (JWKS JSON)
    Column("scopes", Text, nullable=False),                    # space-separated, the most it may get
    Column("created", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    # strict | claimed: which national rules its submissions meet (adapters/national/submissions/tier.py)
    Column("conformance", String(16), nullable=False, server_default="strict"),
)

# client_assertion jti values seen, until they expire: a replayed assertion is refused.
assertion_jti = Table(
    "auth_assertion_jti", metadata,
    Column("client_id", String(64), primary_key=True),
    Column("jti", String(255), primary_key=True),
    Column("expires", BigInteger, nullable=False),
)

# Which organisation submitted each resource (rule 21: a backend client reads what its
# organisation submitted). Written by the guard in the same transaction as the resource.
resource_origin = Table(
    "access_resource_origin", metadata,
    Column("resource_type", String(TYPE), primary_key=True),
    Column("resource_id", String(ID), primary_key=True),
    Column("organization_id", String(ID), nullable=False),
    Column("client_id", String(64)),
    Index("ix_access_origin_org", "organization_id", "resource_type"),
)

# Rule 18: a patient's ban on clinician access, to the whole record (resource_* NULL) or one
# document; for one practitioner, one organisation, or every clinician (both NULL).
ban = Table(
    "access_ban", metadata,
    Column("id", String(64), primary_key=True),
    Column("patient_id", String(ID), nullable=False),
    Column("practitioner_id", String(ID)),
    Column("organization_id", String(ID)),
    Column("resource_type", String(TYPE)),
    Column("resource_id", String(ID)),
    Column("created", BigInteger, nullable=False),
    Column("active", Boolean, nullable=False, default=True),
    Index("ix_access_ban_patient", "patient_id"),
)

# Rule 6: an encounter or document a minor of 14-17 hid from their guardians.
hidden = Table(
    "access_hidden", metadata,
    Column("patient_id", String(ID), primary_key=True),
    Column("resource_type", String(TYPE), primary_key=True),
    Column("resource_id", String(ID), primary_key=True),
    Column("created", BigInteger, nullable=False),
    Index("ix_access_hidden_item", "resource_type", "resource_id"),
)

# Rule 17: every break-glass token issued, for the review list.
break_glass = Table(
    "access_break_glass", metadata,
    Column("id", String(64), primary_key=True),
    Column("patient_id", String(ID), nullable=False),
    Column("practitioner_id", String(ID), nullable=False),
    Column("organization_id", String(ID)),
    Column("reason", Text, nullable=False),
    Column("issued", BigInteger, nullable=False),
    Column("expires", BigInteger, nullable=False),
    Column("reviewed", Boolean, nullable=False, default=False),
    Index("ix_access_break_glass_patient", "patient_id"),
)

__all__ = ["signing_key", "client", "assertion_jti", "resource_origin", "ban", "hidden", "break_glass"]

# Rule 22: the audit journal. Every access is first appended here as one compact row (the
# actor and the access as recorded, ~400 bytes) in the request's own transaction or by the
# audit writer; the AuditEvent resource and its search index rows are projected from it later
# (ehr_core/audit/journal.py): when anyone looks at AuditEvents, and in the background when
# the server is idle. A row leaves the journal in the same transaction that stores its
# AuditEvent, under the same id.
audit_journal = Table(
    "audit_journal", metadata,
    Column("id", String(ID), primary_key=True),          # the AuditEvent's id (UUIDv7: time order)
    Column("patient_id", String(ID)),                    # NULL: an access concerning no patient
    Column("recorded", BigInteger, nullable=False),
    Column("body", Text, nullable=False),                # JSON: actor, access, server (or the event)
    Index("ix_audit_journal_patient", "patient_id"),
)
