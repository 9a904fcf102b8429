"""Prefix and modifier semantics on hand-written index rows, on both engines (search.html#prefix).

Rows are inserted directly, so each case states exactly which stored range meets which prefix,
independently of the indexer.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone

import pytest
from sqlalchemy import insert

from ehr_core.search.engine import execute_search
from ehr_core.search.normalize import HIGH_UNBOUNDED, LOW_UNBOUNDED, date_range
from ehr_core.search.query import parse_search
from ehr_core.storage import schema
from ehr_core.storage.engine import make_engine
from tests.utils.databases import ENGINES


def ts(text: str, end: bool = False) -> float:
    low, high = date_range(text)
    return high if end else low


NOW = time.time()
DATES = {   # Observation id -> stored (low, high) of its ``date``
    "inside": (ts("2019-03-10"), ts("2019-03-10", True)),
    "spans": (ts("2019-02-01"), ts("2019-04-30", True)),
    "after": (ts("2019-04-05"), ts("2019-04-05", True)),
    "before": (ts("2019-01-01"), ts("2019-01-31", True)),
    "straddles-end": (ts("2019-03-25"), ts("2019-04-10", True)),
    "open-start": (LOW_UNBOUNDED, ts("2019-02-15", True)),
    "open-end": (ts("2019-03-05"), HIGH_UNBOUNDED),
    "recent": (NOW - 3600, NOW - 3600),
}
PROBABILITIES = {"p50": 0.5, "p80": 0.8, "p85": 0.85, "p100": 1.0}


@pytest.fixture(scope="module", params=ENGINES)
def engine(request, databases):  # noqa: ANN001
    url = databases.url(request.param)
    eng = make_engine(url)
    with eng.begin() as c:
        resources, dates = [], []
        for id, (low, high) in DATES.items():
            resources.append(_resource("Observation", id))
            dates.append({"resource_type": "Observation", "resource_id": id, "param": "date", "low": low, "high": high})
        c.execute(insert(schema.resource), resources + [_resource("Observation", "no-date"),
                                                        _resource("Observation", "deleted", deleted=True)])
        c.execute(insert(schema.sp_date), dates)
        c.execute(insert(schema.resource), [_resource("RiskAssessment", id) for id in PROBABILITIES])
        c.execute(insert(schema.sp_number), [
            {"resource_type": "RiskAssessment", "resource_id": id, "param": "probability", "low": v, "high": v}
            for id, v in PROBABILITIES.items()])
        c.execute(insert(schema.sp_token), [
            {"resource_type": "Observation", "resource_id": id, "param": "status", "system": None, "code": code,
             "text_norm": None}
            for id, code in (("inside", "final"), ("spans", "amended"), ("deleted", "final"))])
        c.execute(insert(schema.resource), [_resource("Observation", "q-lt5"), _resource("Observation", "q-7")])
        c.execute(insert(schema.sp_quantity), [
            {"resource_type": "Observation", "resource_id": "q-lt5", "param": "value-quantity",
             "system": "http://unitsofmeasure.org", "code": "mg", "low": LOW_UNBOUNDED, "high": 5.0},
            {"resource_type": "Observation", "resource_id": "q-7", "param": "value-quantity",
             "system": "http://unitsofmeasure.org", "code": "mg", "low": 7.0, "high": 7.0}])
    yield eng
    eng.dispose()
    databases.drop(url)


def _resource(rt: str, id: str, deleted: bool = False) -> dict:
    return {"resource_type": rt, "id": id, "version_id": 1, "deleted": deleted,
            "last_updated": int(datetime(2024, 1, 1, tzinfo=timezone.utc).timestamp() * 1e6),
            "content": b'{"resourceType":"%s","id":"%s"}' % (rt.encode(), id.encode())}


def ids(engine, rt: str, params: list[tuple[str, str]], **kw) -> set[str]:  # noqa: ANN001
    req = parse_search(rt, params + [("_count", "1000")])
    with engine.connect() as c:
        return {m.id for m in execute_search(c, req, **kw).matches}


DATE_CASES = {
    "eq": {"inside"},
    "ne": {"spans", "after", "before", "straddles-end", "open-start", "open-end", "recent"},
    "gt": {"spans", "after", "straddles-end", "open-end", "recent"},
    "lt": {"spans", "before", "open-start"},
    "ge": {"inside", "spans", "after", "straddles-end", "open-end", "recent"},
    "le": {"inside", "spans", "before", "open-start"},
    "sa": {"after", "recent"},
    "eb": {"before", "open-start"},
}


@pytest.mark.parametrize("prefix", sorted(DATE_CASES))
def test_date_prefix(engine, prefix: str) -> None:  # noqa: ANN001
    assert ids(engine, "Observation", [("date", f"{prefix}2019-03")]) == DATE_CASES[prefix]


def test_date_ap_is_relative_to_now(engine) -> None:  # noqa: ANN001
    today = datetime.fromtimestamp(NOW, tz=timezone.utc).strftime("%Y-%m-%d")
    assert "recent" in ids(engine, "Observation", [("date", f"ap{today}")])
    assert ids(engine, "Observation", [("date", f"ap{today}")]) & {"inside", "before"} == set()
    assert {"inside", "spans"} <= ids(engine, "Observation", [("date", "ap2019-03-10")])


NUMBER_CASES = {
    "eq0.8": {"p80"}, "0.8": {"p80"}, "ne0.8": {"p50", "p85", "p100"}, "gt0.8": {"p85", "p100"},
    "ge0.8": {"p80", "p85", "p100"}, "lt0.8": {"p50"}, "le0.8": {"p50", "p80"}, "sa0.8": {"p85", "p100"},
    "eb0.8": {"p50"}, "ap0.8": {"p80", "p85"}, "1.0": {"p100"}, "0.80": {"p80"},
    "1": set(PROBABILITIES), "1e0": set(PROBABILITIES),          # one significant figure: [0.5, 1.5)
}


@pytest.mark.parametrize("value", sorted(NUMBER_CASES))
def test_number_prefix_and_precision(engine, value: str) -> None:  # noqa: ANN001
    assert ids(engine, "RiskAssessment", [("probability", value)]) == NUMBER_CASES[value]


@pytest.mark.parametrize("value,expected", [
    ("gt3", {"q-lt5", "q-7"}), ("lt3", {"q-lt5"}), ("eq5", set()), ("7|http://unitsofmeasure.org|mg", {"q-7"}),
    ("7||mg", {"q-7"}), ("7||g", set()), ("ge7|http://other|mg", set()),
])
def test_quantity_open_ranges_and_units(engine, value: str, expected: set[str]) -> None:  # noqa: ANN001
    assert ids(engine, "Observation", [("value-quantity", value)]) == expected


def test_or_and_and(engine) -> None:  # noqa: ANN001
    assert ids(engine, "Observation", [("date", "eb2019-03,sa2019-04-20")]) == {"before", "open-start", "recent"}
    assert ids(engine, "Observation", [("date", "ge2019-02"), ("date", "le2019-03")]) == {"inside", "spans"}


def test_deleted_never_match(engine) -> None:  # noqa: ANN001
    assert ids(engine, "Observation", [("status", "final")]) == {"inside"}
    assert "deleted" not in ids(engine, "Observation", [("status:not", "amended")])
    assert "deleted" not in ids(engine, "Observation", [])


def test_not_includes_resources_without_the_element(engine) -> None:  # noqa: ANN001
    found = ids(engine, "Observation", [("status:not", "final")])
    assert "inside" not in found and {"spans", "no-date", "after"} <= found


def test_missing(engine) -> None:  # noqa: ANN001
    assert ids(engine, "Observation", [("date:missing", "true")]) == {"no-date", "q-lt5", "q-7"}
    assert ids(engine, "Observation", [("date:missing", "false")]) == set(DATES)


def test_restrict_narrows_in_the_query(engine) -> None:  # noqa: ANN001
    req = parse_search("Observation", [("date:missing", "false"), ("_total", "accurate")])
    with engine.connect() as c:
        result = execute_search(c, req, restrict=lambda r: r.c.id.in_(["inside", "after"]))
    assert {m.id for m in result.matches} == {"inside", "after"} and result.total == 2
