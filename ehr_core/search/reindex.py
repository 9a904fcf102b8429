"""Re-extract the search index of every current resource (``evk reindex``), resumably.

Index rows are written with each resource (``ehr_core.search.extract``), so they only go stale
when the extraction rules or the search parameter definitions change; then every resource has to
be re-extracted (https://hl7.org/fhir/R4/searchparameter.html — a server that changes a
parameter must reindex before searches on it are reliable).

Resources are taken in (resource_type, id) order, ``batch`` at a time. Each batch is one write
transaction that replaces the batch's index rows and records the last (resource_type, id) done
in ``reindex_state``; an interrupted run therefore resumes after the last committed batch, and
no batch is ever half applied. The state row is removed when the run completes, so the next run
starts from the beginning. Rows are read ``FOR UPDATE`` (PostgreSQL; SQLite's write transaction
is exclusive anyway), so a concurrent update of a resource cannot be overwritten by an index
extracted from its previous content.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

import orjson
from sqlalchemy import Connection, Engine, and_, delete, false, insert, or_, select, update

from ehr_core.search.extract import IndexExtractor
from ehr_core.storage import schema
from ehr_core.storage.engine import write_options

STATE_NAME = "search-index"

Progress = Callable[[int, str], None]          # (resources done so far, resource type of the last one)


def reindex(engine: Engine, *, batch: int = 500, progress: Progress | None = None,
            extractor: IndexExtractor | None = None, name: str = STATE_NAME) -> int:
    """Re-extract index rows for all non-deleted resources; returns how many were done in total
    (including those done by an interrupted earlier run with the same ``name``)."""
    extractor = extractor or IndexExtractor()
    with engine.connect() as conn:
        state = conn.execute(select(schema.reindex_state).where(schema.reindex_state.c.name == name)).first()
    after = (state.resource_type, state.after_id) if state and state.resource_type is not None else None
    done = state.done if state else 0
    while True:
        with engine.connect().execution_options(**write_options(engine)) as conn, conn.begin():
            rows = conn.execute(_next_batch(after, batch)).all()
            if not rows:
                conn.execute(delete(schema.reindex_state).where(schema.reindex_state.c.name == name))
                return done
            _replace_index(conn, rows, extractor)
            after = (rows[-1].resource_type, rows[-1].id)
            done += len(rows)
            _save_state(conn, name, after, done)
        if progress is not None:
            progress(done, after[0])


def _next_batch(after: tuple[str, str] | None, batch: int):  # noqa: ANN202 — a Select
    t = schema.resource
    query = select(t.c.resource_type, t.c.id, t.c.content).where(t.c.deleted == false())
    if after is not None:
        rt, rid = after
        query = query.where(or_(t.c.resource_type > rt, and_(t.c.resource_type == rt, t.c.id > rid)))
    return query.order_by(t.c.resource_type, t.c.id).limit(batch).with_for_update()


def _replace_index(conn: Connection, rows: list, extractor: IndexExtractor) -> None:
    ids_by_type: dict[str, list[str]] = defaultdict(list)
    new_rows: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        ids_by_type[row.resource_type].append(row.id)
        for kind, found in extractor.extract(orjson.loads(row.content)).items():
            new_rows[kind].extend({"resource_type": row.resource_type, "resource_id": row.id, **r} for r in found)
    for kind, table in schema.INDEX_TABLES.items():
        for rt, ids in ids_by_type.items():
            conn.execute(delete(table).where(and_(table.c.resource_type == rt, table.c.resource_id.in_(ids))))
        if new_rows[kind]:
            conn.execute(insert(table), new_rows[kind])


def _save_state(conn: Connection, name: str, after: tuple[str, str], done: int) -> None:
    t = schema.reindex_state
    values = {"resource_type": after[0], "after_id": after[1], "done": done}
    if conn.execute(update(t).where(t.c.name == name).values(**values)).rowcount == 0:
        conn.execute(insert(t).values(name=name, **values))
