"""Conditional create/update/delete, and the race that the well-known servers lose."""
from __future__ import annotations

import threading

from tests.utils.fhir import call

SYSTEM = "https://evk.example.lv/fhir/sid/test"


def patient(value: str, **extra) -> dict:  # noqa: ANN003
    return {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": value}], **extra}


def test_conditional_create(handler):  # noqa: ANN001
    crit = f"identifier={SYSTEM}|A1"
    first = call(handler, "POST", "Patient", patient("A1"), if_none_exist=crit)
    assert first.status == 201
    again = call(handler, "POST", "Patient", patient("A1"), if_none_exist=crit)
    assert again.status == 200 and again.body["id"] == first.body["id"]
    call(handler, "POST", "Patient", patient("A1"))   # a second one, made unconditionally
    many = call(handler, "POST", "Patient", patient("A1"), if_none_exist=crit)
    assert many.status == 412


def test_conditional_update_and_delete(handler):  # noqa: ANN001
    made = call(handler, "PUT", f"Patient?identifier={SYSTEM}|B2", patient("B2", gender="male"))
    assert made.status == 201
    pid = made.body["id"]
    upd = call(handler, "PUT", f"Patient?identifier={SYSTEM}|B2", patient("B2", gender="female"))
    assert upd.status == 200 and upd.body["id"] == pid and upd.body["meta"]["versionId"] == "2"
    assert call(handler, "DELETE", f"Patient?identifier={SYSTEM}|B2").status == 204
    assert call(handler, "GET", f"Patient/{pid}").status == 410
    assert call(handler, "DELETE", f"Patient?identifier={SYSTEM}|nobody").status == 204
    assert call(handler, "PUT", "Patient", patient("C3")).status == 400   # no criteria


def test_parallel_conditional_creates_make_exactly_one(handler):  # noqa: ANN001
    """32 identical conditional creates at once → one resource (both engines)."""
    crit = f"identifier={SYSTEM}|RACE"
    barrier = threading.Barrier(32)
    statuses: list[int] = []
    ids: set[str] = set()
    lock = threading.Lock()

    def worker() -> None:
        barrier.wait()
        resp = call(handler, "POST", "Patient", patient("RACE"), if_none_exist=crit)
        with lock:
            statuses.append(resp.status)
            if resp.body and "id" in resp.body:
                ids.add(resp.body["id"])

    threads = [threading.Thread(target=worker) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200] * 31 + [201]
    assert len(ids) == 1
    found = call(handler, "GET", f"Patient?identifier={SYSTEM}|RACE").body
    assert len(found["entry"]) == 1
