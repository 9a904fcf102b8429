"""A guarded read by id is one statement: the row, its patients and the access decision come
back together (three round trips before), with the same answers as the separate lookups."""
from __future__ import annotations

import pytest
from sqlalchemy import event

from ehr_core.access import patients as pt
from ehr_core.access.evaluate import evaluate_read
from ehr_core.auth.clients import ensure_organization
from ehr_core.auth.principal import SYSTEM, Principal
from ehr_core.rest.messages import FhirRequest
from tests.utils.fhir import SYNTHEA, load_json


@pytest.fixture
def stored(service):  # noqa: ANN001
    org = ensure_organization(service.handler, "40003000001", "Test Hospital")
    hospital = Principal(SYSTEM, "h", name="h", organization_id=org, role="hospital", client_id="h",
                         scopes=frozenset({"system/*.cruds"}))
    resp = service.handler.handle(FhirRequest("POST", "", [], {}, load_json(sorted(SYNTHEA.glob("*.json"))[0]),
                                              principal=hospital))
    assert resp.status == 200, resp.body
    return service, hospital, [tuple(e["response"]["location"].split("/")[:2]) for e in resp.body["entry"]]


def _statements(engine, run) -> list[str]:  # noqa: ANN001
    seen: list[str] = []

    def note(conn, cursor, statement, *args):  # noqa: ANN001, ANN202
        seen.append(statement)
    event.listen(engine, "before_cursor_execute", note)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", note)
    return seen


def test_a_read_by_id_is_one_statement(stored) -> None:  # noqa: ANN001
    svc, hospital, keys = stored
    svc.handler.guard.audit_enabled = False          # the audit writer's own batches aside
    for rt in ("Patient", "Observation", "Encounter"):
        id = next(i for t, i in keys if t == rt)
        resp = []
        sql = _statements(svc.engine, lambda: resp.append(
            svc.handler.handle(FhirRequest.from_url("GET", f"{rt}/{id}", principal=hospital))))
        assert resp[0].status == 200 and resp[0].body["id"] == id
        assert len([s for s in sql if s.lstrip().upper().startswith("SELECT")]) == 1, sql


def test_the_one_statement_agrees_with_the_separate_lookups(stored) -> None:  # noqa: ANN001
    svc, _, keys = stored
    with svc.repo.session() as s:
        with_patients = 0
        for rt, id in keys[:40] + [("Observation", "no-such-id")]:
            current, patients, _ = evaluate_read(s.conn, rt, id, [])
            assert patients == (pt.patients_of(s.conn, rt, id) if current else ())
            with_patients += rt != "Patient" and bool(patients)
            expected = s.current(rt, id)
            assert (current is None) == (expected is None)
            if current is not None:
                assert (current.version_id, current.content, current.deleted) == \
                       (expected.version_id, expected.content, expected.deleted)
        assert with_patients >= 10
