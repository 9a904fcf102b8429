"""The relational schema: current resources, every version, and the search index.

Why this shape:
- ``resource`` holds the current version of each logical resource (also tombstones, so a read
  after delete can answer 410 Gone); ``resource_version`` holds every version including the
  current one, so vread and history never need to reconstruct anything.
- Search index rows (``sp_*``) are extracted at write time and written in the same database
  transaction as the resource; one table per search parameter type keeps each index narrow.
- Times are integers (microseconds since the epoch, UTC) so that ordering and range queries
  behave identically on SQLite and PostgreSQL. Date index bounds are seconds as floats.

Schema changes go through Alembic (``migrations/``); this module is its target metadata.
"""
from __future__ import annotations

from sqlalchemy import (BigInteger, Boolean, Column, Float, Index, Integer, LargeBinary,
                        MetaData, String, Table, Text)

metadata = MetaData()

TYPE = 64    # longest R4 resource type name is 35 characters
ID = 64      # FHIR ids are at most 64 characters

resource = Table(
    "resource", metadata,
    Column("resource_type", String(TYPE), primary_key=True),
    Column("id", String(ID), primary_key=True),
    Column("version_id", Integer, nullable=False),
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("content", LargeBinary, nullable=False),
    Index("ix_resource_updated", "resource_type", "last_updated"),
)

resource_version = Table(
    "resource_version", metadata,
    Column("resource_type", String(TYPE), primary_key=True),
    Column("id", String(ID), primary_key=True),
    Column("version_id", Integer, primary_key=True),
    Column("last_updated", BigInteger, nullable=False),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("method", String(8), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Index("ix_version_updated", "last_updated"),
    Index("ix_version_type_updated", "resource_type", "last_updated"),
)


def _index_table(name: str, *columns: Column, value_index: tuple[str, ...]) -> Table:
    return Table(
        name, metadata,
        Column("resource_type", String(TYPE), nullable=False),
        Column("resource_id", String(ID), nullable=False),
        Column("param", String(100), nullable=False),
        *columns,
        # (type, id, param): the correlated EXISTS of a search, and deletes on update.
        Index(f"ix_{name}_resource", "resource_type", "resource_id", "param"),
        # resource_id last makes value lookups index-only: a 7k-match token search drops from
        # ~50 ms to ~3 ms on SQLite because the table rows are never visited.
        Index(f"ix_{name}_value", "resource_type", "param", *value_index, "resource_id"),
    )


sp_string = _index_table(
    "sp_string",
    Column("value_norm", String(512), nullable=False),   # lower-case, accents removed
    Column("value_exact", Text, nullable=False),
    value_index=("value_norm",),
)

sp_token = _index_table(
    "sp_token",
    Column("system", String(512)),
    Column("code", String(512)),
    Column("text_norm", String(512)),                     # display/text for :text, normalised
    value_index=("code", "system"),
)

sp_reference = _index_table(
    "sp_reference",
    Column("target_type", String(TYPE)),
    Column("target_id", String(ID)),
    Column("target_url", String(1024)),                   # absolute or canonical references
    value_index=("target_id", "target_type"),
)

sp_date = _index_table(
    "sp_date",
    Column("low", Float),                                 # seconds since epoch, inclusive
    Column("high", Float),                                # seconds since epoch, inclusive
    value_index=("low", "high"),
)

sp_number = _index_table(
    "sp_number",
    Column("low", Float),
    Column("high", Float),
    value_index=("low", "high"),
)

sp_quantity = _index_table(
    "sp_quantity",
    Column("system", String(512)),
    Column("code", String(512)),
    Column("low", Float),
    Column("high", Float),
    value_index=("code", "low"),
)

sp_uri = _index_table(
    "sp_uri",
    Column("uri", String(1024), nullable=False),
    value_index=("uri",),
)

# A composite parameter's row: one per combination of component values taken from the same
# element (e.g. one Observation.component). Components are stored as their token/number/date
# forms so composite search reuses the single-type comparisons.
sp_composite = _index_table(
    "sp_composite",
    Column("c1_system", String(512)),
    Column("c1_code", String(512)),
    Column("c2_system", String(512)),
    Column("c2_code", String(512)),                       # token/string/uri second component
    Column("c2_low", Float),                              # quantity/number/date second component
    Column("c2_high", Float),
    value_index=("c1_code", "c2_code"),
)

INDEX_TABLES = {
    "string": sp_string,
    "token": sp_token,
    "reference": sp_reference,
    "date": sp_date,
    "number": sp_number,
    "quantity": sp_quantity,
    "uri": sp_uri,
    "composite": sp_composite,
}

# Progress of `evk reindex`, so an interrupted reindex resumes where it stopped.
reindex_state = Table(
    "reindex_state", metadata,
    Column("name", String(64), primary_key=True),
    Column("resource_type", String(TYPE)),
    Column("after_id", String(ID)),
    Column("done", Integer, nullable=False, default=0),
)
