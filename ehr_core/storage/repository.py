"""The repository: versioned storage of FHIR resources with their search index, in one transaction.

Every change goes through a ``Session`` (a unit of work on one database connection and one
transaction): the resource row, its version row and its search index rows are written together
or not at all. Inserts are buffered and written with executemany just before the next read, or
at commit, because a transaction Bundle of a few hundred entries is the common case and one
round trip per table beats one per row (PostgreSQL especially).

Conditional operations are made race-free with ``Session.lock``: a transaction-scoped advisory
lock on PostgreSQL; on SQLite the write transaction itself is exclusive (BEGIN IMMEDIATE).
"""
from __future__ import annotations

import hashlib
import os
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

import orjson
from sqlalchemy import Connection, Engine, and_, bindparam, delete, insert, select, text, update

from ehr_core import errors
from ehr_core.storage import schema
from ehr_core.storage.engine import is_sqlite, write_options
from ehr_core.storage.records import StoredResource, instant, now_micros

SERVER_META = ("versionId", "lastUpdated")


class Indexer(Protocol):
    def extract(self, resource: dict) -> dict[str, list[dict]]: ...

    def extract_keys(self, resource: dict) -> dict[str, Iterable[tuple]]: ...

    def columns(self, kind: str) -> tuple[str, ...]: ...


def _lock_number(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big", signed=True)


def new_id() -> str:
    """A server-assigned id: a UUID version 7 (RFC 9562 §5.7; hand-written, Python 3.11's
    ``uuid`` has no uuid7). Time-ordered ids land at the end of the (resource_type, id) indexes
    instead of at random pages, which keeps large loads from thrashing the page cache; the
    creation time they reveal is the resource's ``meta.lastUpdated`` anyway."""
    ms = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 68 & 0xFFF) << 64 | 0b10 << 62 | rand & (2**62 - 1)
    return str(uuid.UUID(int=value))


def content_equal(a: dict, b: dict) -> bool:
    """Same resource apart from the server-owned meta fields (an update that changes nothing)."""
    return _without_server_meta(a) == _without_server_meta(b)


def _without_server_meta(resource: dict) -> dict:
    meta = resource.get("meta")
    if not meta:
        return resource
    rest = {k: v for k, v in meta.items() if k not in SERVER_META}
    out = {k: v for k, v in resource.items() if k != "meta"}
    if rest:
        out["meta"] = rest
    return out


def _stamp(resource: dict, version_id: int, last_updated: int) -> bytes:
    meta = dict(resource.get("meta") or {})
    meta["versionId"] = str(version_id)
    meta["lastUpdated"] = instant(last_updated)
    stamped = {"resourceType": resource["resourceType"]}
    if "id" in resource:
        stamped["id"] = resource["id"]
    stamped["meta"] = meta
    for k, v in resource.items():
        if k not in stamped:
            stamped[k] = v
    return orjson.dumps(stamped)


def _row(r) -> StoredResource:  # noqa: ANN001
    return StoredResource(r.resource_type, r.id, r.version_id, r.last_updated, bool(r.deleted), bytes(r.content))


# Built once: constructing a statement costs more than running it on a hot read.
_CURRENT = select(schema.resource).where(schema.resource.c.resource_type == bindparam("rt"),
                                         schema.resource.c.id == bindparam("id"))
_CURRENT_FOR_UPDATE = _CURRENT.with_for_update()


class Repository:
    """Entry point to the store. ``session()`` opens a unit of work."""

    def __init__(self, engine: Engine, indexer: Indexer | None = None):
        self.engine = engine
        if indexer is None:
            from ehr_core.search.extract import IndexExtractor
            indexer = IndexExtractor()
        self.indexer = indexer

    @contextmanager
    def session(self, *, write: bool = False) -> Iterator[Session]:
        conn = self.engine.connect()
        if write:
            conn = conn.execution_options(**write_options(self.engine))
        elif not is_sqlite(self.engine):
            # PostgreSQL reads in READ COMMITTED take a snapshot per statement inside a
            # transaction or not, so BEGIN and COMMIT only cost two round trips per request
            # (a guarded read is three statements). SQLite keeps its read transaction: that is
            # what gives a read-only unit of work one snapshot there.
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        s = Session(self, conn, write=write)
        committed = False
        try:
            with conn.begin():
                yield s
                for hook in s.before_commit:   # e.g. the audit trail of this unit of work
                    hook(s)
                s.flush()
            committed = True
        finally:
            conn.close()
            for after in s.after_close:        # e.g. audit of a refusal, after the rollback
                after(committed)

    # Convenience for single reads outside a unit of work.
    def read(self, resource_type: str, id: str) -> StoredResource:
        with self.session() as s:
            return s.read(resource_type, id)


class Session:
    def __init__(self, repo: Repository, conn: Connection, *, write: bool = False):
        self.repo = repo
        self.conn = conn
        self.write = write
        # Hooks: before_commit(session) runs inside the transaction, after_close(committed)
        # once the connection is back in the pool (the access guard's audit trail uses both).
        self.before_commit: list = []
        self.after_close: list = []
        self._pending: dict[str, list[dict]] = {}
        self._locked: set[int] = set()
        self._now = now_micros()
        # A read-only unit of work looks at each resource once: the access guard decides on
        # exactly the row the handler then returns, and the two share one query.
        self._current_seen: dict[tuple[str, str], StoredResource | None] | None = None if write else {}

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.repo.engine)

    # --- buffering -------------------------------------------------------------------------
    def _queue(self, table: str, row: dict) -> None:
        self._pending.setdefault(table, []).append(row)

    def insert_later(self, table: str, row: dict) -> None:
        """Buffer a row of another table on the same metadata (e.g. who submitted a resource),
        written with the resource rows in one batch per table."""
        self._queue(table, row)

    def flush(self) -> None:
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        for name, rows in pending.items():
            self.conn.execute(insert(schema.metadata.tables[name]), rows)

    # --- reads -----------------------------------------------------------------------------
    def current(self, resource_type: str, id: str, *, for_update: bool = False) -> StoredResource | None:
        """The current row, tombstones included; None if the id was never used."""
        seen = self._current_seen
        if seen is not None:
            key = (resource_type, id)
            if key not in seen:
                seen[key] = self._fetch_current(resource_type, id, for_update=False)
            return seen[key]
        return self._fetch_current(resource_type, id, for_update=for_update)

    def remember_current(self, resource_type: str, id: str, found: StoredResource | None) -> None:
        """The current row as fetched by another statement (the access check's): a read unit of
        work then does not fetch it again."""
        if self._current_seen is not None and not self._pending:
            self._current_seen[(resource_type, id)] = found

    def _fetch_current(self, resource_type: str, id: str, *, for_update: bool) -> StoredResource | None:
        self.flush()
        q = _CURRENT_FOR_UPDATE if for_update and not self.sqlite else _CURRENT
        r = self.conn.execute(q, {"rt": resource_type, "id": id}).first()
        return _row(r) if r else None

    def read(self, resource_type: str, id: str) -> StoredResource:
        found = self.current(resource_type, id)
        if found is None:
            raise errors.not_found(f"{resource_type}/{id} is not known")
        if found.deleted:
            raise errors.FhirError(410, [errors.Issue("error", "deleted", f"{resource_type}/{id} has been deleted")],
                                   headers={"ETag": found.etag, "Last-Modified": found.last_modified})
        return found

    def vread(self, resource_type: str, id: str, version_id: int) -> StoredResource:
        self.flush()
        t = schema.resource_version
        r = self.conn.execute(select(t).where(and_(
            t.c.resource_type == resource_type, t.c.id == id, t.c.version_id == version_id))).first()
        if r is None:
            if self.current(resource_type, id) is None:
                raise errors.not_found(f"{resource_type}/{id} is not known")
            raise errors.not_found(f"{resource_type}/{id} has no version {version_id}")
        found = _row(r)
        if found.deleted:
            raise errors.FhirError(410, [errors.Issue("error", "deleted",
                                                      f"{resource_type}/{id} version {version_id} is a deletion")],
                                   headers={"ETag": found.etag})
        return found

    # --- locking ---------------------------------------------------------------------------
    def lock(self, *keys: str) -> None:
        """Serialise transactions that use the same key (conditional create/update).

        Several keys are taken in one sorted pass: two transactions locking the same keys in a
        different order would otherwise deadlock.
        """
        if self.sqlite:
            return  # the write transaction already holds SQLite's single RESERVED lock
        wanted = sorted({_lock_number(k) for k in keys} - self._locked)
        if not wanted:
            return
        self.flush()
        self.conn.execute(text("SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:ks AS bigint[])) AS k ORDER BY k"),
                          {"ks": wanted})
        self._locked.update(wanted)

    # --- writes ----------------------------------------------------------------------------
    def create(self, resource: dict, *, id: str | None = None) -> StoredResource:
        rt = resource["resourceType"]
        resource = dict(resource, id=id or new_id())
        return self._write_new(rt, resource["id"], resource, version_id=1, method="POST")

    def update(self, resource_type: str, id: str, resource: dict, *,
               if_match: int | None = None) -> tuple[StoredResource, bool, bool]:
        """Update (or create with a client id). Returns (stored, created, changed)."""
        resource = dict(resource, id=id)
        found = self.current(resource_type, id, for_update=True)
        if if_match is not None and (found is None or found.deleted or found.version_id != if_match):
            have = "no current version" if found is None or found.deleted else f"version {found.version_id}"
            raise errors.precondition_failed(f"If-Match wants version {if_match} of {resource_type}/{id}; "
                                             f"the server has {have}")
        if found is None:
            return self._write_new(resource_type, id, resource, version_id=1, method="PUT"), True, True
        if not found.deleted and content_equal(found.resource(), resource):
            return found, False, False
        version = found.version_id + 1
        content = _stamp(resource, version, self._now)
        t = schema.resource
        self.conn.execute(update(t).where(and_(t.c.resource_type == resource_type, t.c.id == id)).values(
            version_id=version, last_updated=self._now, deleted=False, content=content))
        self._queue_version(resource_type, id, version, content, "PUT", deleted=False)
        self._reindex(resource_type, id, resource, replace=True)
        return StoredResource(resource_type, id, version, self._now, False, content), found.deleted, True

    def delete(self, resource_type: str, id: str) -> StoredResource | None:
        """Logical delete. Returns the tombstone, or None when there was nothing to delete."""
        found = self.current(resource_type, id, for_update=True)
        if found is None or found.deleted:
            return None
        version = found.version_id + 1
        content = orjson.dumps({"resourceType": resource_type, "id": id,
                                "meta": {"versionId": str(version), "lastUpdated": instant(self._now)}})
        t = schema.resource
        self.conn.execute(update(t).where(and_(t.c.resource_type == resource_type, t.c.id == id)).values(
            version_id=version, last_updated=self._now, deleted=True, content=content))
        self._queue_version(resource_type, id, version, content, "DELETE", deleted=True)
        self._drop_index(resource_type, id)
        return StoredResource(resource_type, id, version, self._now, True, content)

    def _write_new(self, rt: str, id: str, resource: dict, *, version_id: int, method: str) -> StoredResource:
        content = _stamp(resource, version_id, self._now)
        self._queue("resource", {"resource_type": rt, "id": id, "version_id": version_id,
                                 "last_updated": self._now, "deleted": False, "content": content})
        self._queue_version(rt, id, version_id, content, method, deleted=False)
        self._reindex(rt, id, resource, replace=False)
        return StoredResource(rt, id, version_id, self._now, False, content)

    def _queue_version(self, rt: str, id: str, version: int, content: bytes, method: str, *, deleted: bool) -> None:
        self._queue("resource_version", {"resource_type": rt, "id": id, "version_id": version,
                                         "last_updated": self._now, "deleted": deleted, "method": method,
                                         "content": content})

    def _reindex(self, rt: str, id: str, resource: dict, *, replace: bool) -> None:
        if replace:
            self._drop_index(rt, id)
        indexer = self.repo.indexer
        for kind, keys in indexer.extract_keys(resource).items():
            if not keys:
                continue
            names = ("resource_type", "resource_id", *indexer.columns(kind))
            self._pending.setdefault(schema.INDEX_TABLES[kind].name, []).extend(
                dict(zip(names, (rt, id, *key))) for key in keys)

    def _drop_index(self, rt: str, id: str) -> None:
        self.flush()
        for t in schema.INDEX_TABLES.values():
            self.conn.execute(delete(t).where(and_(t.c.resource_type == rt, t.c.resource_id == id)))
