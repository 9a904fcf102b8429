"""AuditEvents written by the audit process (how `evk serve` runs): one per patient touched,
searchable by the patient's id once flushed, on both engines; a dead audit process is replaced."""
from __future__ import annotations

import pytest

from ehr_core.auth.principal import SYSTEM, Principal
from ehr_core.rest.messages import FhirRequest
from ehr_core.service import Service
from ehr_core.settings import Settings
from ehr_core.storage.engine import make_engine
from tests.utils.fhir import SYNTHEA, call, load_json


@pytest.fixture
def served(db_url):  # noqa: ANN001
    svc = Service.from_settings(Settings(database_url=db_url, demo_data=False, base_url="http://testserver",
                                         audit_process=True), engine=make_engine(db_url))
    yield svc
    svc.handler.guard.audit_writer.flush()
    svc.handler.guard.audit_process.close()
    svc.engine.dispose()


def _audit_events(svc: Service, patient: str) -> list[dict]:  # noqa: ANN001
    resp = call(svc.handler, "GET", f"AuditEvent?patient=Patient/{patient}&_count=100")
    return [e["resource"] for e in resp.body.get("entry", [])]


def _hospital_with_a_patient(served) -> tuple[Principal, str]:  # noqa: ANN001
    from ehr_core.auth.clients import ensure_organization
    org = ensure_organization(served.handler, "40003000001", "Test Hospital")
    hospital = Principal(SYSTEM, "h", name="h", organization_id=org, role="hospital", client_id="h",
                         scopes=frozenset({"system/*.cruds"}))
    bundle = load_json(sorted(SYNTHEA.glob("*.json"))[0])
    resp = served.handler.handle(FhirRequest("POST", "", [], {}, bundle, principal=hospital))
    assert resp.status == 200, resp.body
    patient = next(e["response"]["location"].split("/")[1] for e in resp.body["entry"]
                   if e["response"]["location"].startswith("Patient/"))
    return hospital, patient


def test_reads_are_audited_from_the_audit_process(served):  # noqa: ANN001
    hospital, patient = _hospital_with_a_patient(served)
    before = len(_audit_events(served, patient))
    writer = served.handler.guard.audit_writer
    for _ in range(3):
        read = served.handler.handle(FhirRequest("GET", f"Patient/{patient}", [], {}, None, principal=hospital))
        assert read.status == 200
    writer.flush()
    events = _audit_events(served, patient)
    assert len(events) == before + 3
    assert {e["agent"][0]["who"]["identifier"]["value"] for e in events[-3:]} == {"h"}

    # the audit process dies: the next batch starts another, nothing is lost
    process = served.handler.guard.audit_process
    process._child.kill()
    process._child.join()
    served.handler.handle(FhirRequest("GET", f"Patient/{patient}", [], {}, None, principal=hospital))
    writer.flush()
    assert len(_audit_events(served, patient)) == before + 4


def test_the_idle_audit_process_projects_the_journal(served):  # noqa: ANN001
    import time

    from sqlalchemy import func, select

    from ehr_core.access.schema import audit_journal
    hospital, patient = _hospital_with_a_patient(served)
    for _ in range(3):
        served.handler.handle(FhirRequest("GET", f"Patient/{patient}", [], {}, None, principal=hospital))
    served.handler.guard.audit_writer.flush()

    def pending() -> int:
        with served.engine.connect() as c:
            return c.execute(select(func.count()).select_from(audit_journal)).scalar_one()
    deadline = time.monotonic() + 20
    while pending() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert pending() == 0
    with served.engine.connect() as c:
        stored = c.exec_driver_sql("SELECT count(*) FROM resource WHERE resource_type = 'AuditEvent'").scalar_one()
    assert stored >= 4      # the submission's own and the three reads, without anybody asking


def test_a_batch_waiting_for_the_writer_lock_keeps_the_projector_away(monkeypatch) -> None:  # noqa: ANN001
    """Idle means no batch arrived lately and none is being written: counting arrivals only, a
    projector whose chunks outlasted the idle delay held SQLite's lock while batches queued."""
    from ehr_core.audit import process
    clock = [100.0]
    monkeypatch.setattr(process.time, "monotonic", lambda: clock[0])
    activity = process.Activity()
    assert not activity.idle()                      # just started
    clock[0] += process.IDLE_SECONDS
    assert activity.idle()
    with activity.batch():
        clock[0] += 10 * process.IDLE_SECONDS        # a batch stuck behind the projector's commit
        assert not activity.idle()
    assert not activity.idle()                      # it has only just been written
    clock[0] += process.IDLE_SECONDS
    assert activity.idle()
