"""``reindex`` (ehr_core.search.reindex): full re-extraction, resumable, on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import uuid

import orjson
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.engine import make_url

from ehr_core.search.extract import IndexExtractor
from ehr_core.search.reindex import STATE_NAME, reindex
from ehr_core.storage import schema
from ehr_core.storage.engine import bare_engine, make_engine

PG_URL = os.environ.get("EVK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request, tmp_path):  # noqa: ANN001
    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path / 'reindex.sqlite3'}")
        schema.metadata.create_all(eng)
        yield eng
        eng.dispose()
        return
    admin = bare_engine(PG_URL)
    name = f"evk_reindex_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        admin.dispose()
        pytest.skip(f"PostgreSQL not available: {exc}")
    eng = make_engine(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
    try:
        schema.metadata.create_all(eng)
        yield eng
    finally:
        eng.dispose()
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _patient(i: int) -> dict:
    return {"resourceType": "Patient", "id": f"p{i:02d}", "name": [{"family": f"Family{i}"}], "gender": "female"}


def _observation(i: int) -> dict:
    return {"resourceType": "Observation", "id": f"o{i:02d}", "status": "final", "subject": {"reference": "Patient/p01"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
            "valueQuantity": {"value": 100 + i, "system": "http://unitsofmeasure.org", "code": "mm[Hg]"}}


RESOURCES = [*(_patient(i) for i in range(7)), *(_observation(i) for i in range(6))]
DELETED = {"resourceType": "Patient", "id": "gone", "name": [{"family": "Deleted"}]}


def _store(engine) -> None:  # noqa: ANN001
    with engine.begin() as c:
        for r in [*RESOURCES, DELETED]:
            c.execute(insert(schema.resource).values(
                resource_type=r["resourceType"], id=r["id"], version_id=1, last_updated=0,
                deleted=r is DELETED, content=orjson.dumps(r)))
        # a stale row that reindexing must replace, and nothing for the deleted resource afterwards
        c.execute(insert(schema.sp_string).values(resource_type="Patient", resource_id="p01", param="family",
                                                  value_norm="stale", value_exact="stale"))


def _index(engine) -> set[tuple]:  # noqa: ANN001
    out = set()
    with engine.connect() as c:
        for kind, t in schema.INDEX_TABLES.items():
            for row in c.execute(select(t)).mappings():
                out.add((kind, *sorted((k, v) for k, v in row.items())))
    return out


def _expected() -> set[tuple]:
    ex, out = IndexExtractor(), set()
    for r in RESOURCES:
        for kind, rows in ex.extract(r).items():
            for row in rows:
                full = {"resource_type": r["resourceType"], "resource_id": r["id"], **row}
                out.add((kind, *sorted(full.items())))
    return out


class CountingExtractor(IndexExtractor):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def extract(self, resource: dict) -> dict[str, list[dict]]:
        self.seen.append(f"{resource['resourceType']}/{resource['id']}")
        return super().extract(resource)


def test_reindex_rebuilds_every_current_resource(engine):  # noqa: ANN001
    _store(engine)
    calls = []
    done = reindex(engine, batch=5, progress=lambda n, rt: calls.append((n, rt)))
    assert done == len(RESOURCES)
    assert calls == [(5, "Observation"), (10, "Patient"), (13, "Patient")]
    assert _index(engine) == _expected()
    with engine.connect() as c:
        assert c.execute(select(func.count()).select_from(schema.reindex_state)).scalar() == 0


def test_interrupted_reindex_resumes_after_the_last_committed_batch(engine):  # noqa: ANN001
    _store(engine)

    def stop_after_first_batch(n: int, rt: str) -> None:
        raise KeyboardInterrupt

    first = CountingExtractor()
    with pytest.raises(KeyboardInterrupt):
        reindex(engine, batch=4, progress=stop_after_first_batch, extractor=first)
    assert first.seen == ["Observation/o00", "Observation/o01", "Observation/o02", "Observation/o03"]
    with engine.connect() as c:
        state = c.execute(select(schema.reindex_state)).one()
    assert (state.name, state.resource_type, state.after_id, state.done) == (STATE_NAME, "Observation", "o03", 4)

    second = CountingExtractor()
    assert reindex(engine, batch=4, extractor=second) == len(RESOURCES)
    assert second.seen == ["Observation/o04", "Observation/o05", *(f"Patient/p{i:02d}" for i in range(7))]
    assert _index(engine) == _expected()

    # a completed run leaves no state behind, so the next one starts from the beginning
    third = CountingExtractor()
    assert reindex(engine, batch=100, extractor=third) == len(RESOURCES)
    assert len(third.seen) == len(RESOURCES)


def test_reindex_of_an_empty_store(engine):  # noqa: ANN001
    assert reindex(engine) == 0
