"""The audit journal: one compact row per patient touched, projected into AuditEvent resources
exactly once — on demand (only the patients a search names) and by the idle projector — on
both engines; a projection that fails keeps its rows."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from ehr_core.access.schema import audit_journal
from ehr_core.audit import journal
from ehr_core.audit.event import Access, Actor, audit_event
from ehr_core.auth.clients import ensure_organization
from ehr_core.auth.principal import SYSTEM, Principal
from ehr_core.rest.messages import FhirRequest
from ehr_core.storage.records import instant
from tests.utils.fhir import SYNTHEA, call, load_json


def _pending(svc, patient: str | None = None) -> int:  # noqa: ANN001
    q = select(func.count()).select_from(audit_journal)
    if patient is not None:
        q = q.where(audit_journal.c.patient_id == patient)
    with svc.engine.connect() as c:
        return c.execute(q).scalar_one()


def _stored_events(svc) -> int:  # noqa: ANN001
    with svc.engine.connect() as c:
        return c.exec_driver_sql("SELECT count(*) FROM resource WHERE resource_type = 'AuditEvent'").scalar_one()


@pytest.fixture
def hospital_world(service):  # noqa: ANN001
    org = ensure_organization(service.handler, "40003000001", "Test Hospital")
    hospital = Principal(SYSTEM, "h", name="h", organization_id=org, role="hospital", client_id="h",
                         scopes=frozenset({"system/*.cruds"}))
    patients = []
    for path in sorted(SYNTHEA.glob("*.json"))[:2]:
        resp = service.handler.handle(FhirRequest("POST", "", [], {}, load_json(path), principal=hospital))
        assert resp.status == 200, resp.body
        patients.append(next(e["response"]["location"].split("/")[1] for e in resp.body["entry"]
                             if e["response"]["location"].startswith("Patient/")))
    journal.project(service.repo)            # the submissions' own trail, out of the way
    return service, hospital, patients


def _read(svc, who, url: str):  # noqa: ANN001
    resp = svc.handler.handle(FhirRequest.from_url("GET", url, principal=who))
    assert resp.status == 200, resp.body
    return resp


def test_accesses_are_journalled_and_projected_for_the_patient_asked_about(hospital_world):  # noqa: ANN001
    svc, hospital, (a, b) = hospital_world
    stored = _stored_events(svc)
    _read(svc, hospital, f"Patient/{a}")
    _read(svc, hospital, f"Patient/{b}")
    _read(svc, hospital, f"Observation?subject=Patient/{a}&_count=5")
    svc.handler.guard.audit_writer.flush()
    assert _pending(svc, a) == 2 and _pending(svc, b) == 1
    assert _stored_events(svc) == stored             # nothing projected while nobody looks

    events = [e["resource"] for e in call(svc.handler, "GET", f"AuditEvent?patient={a}&_count=50").body["entry"]]
    assert _pending(svc, a) == 0 and _pending(svc, b) == 1    # only the patient asked about
    mine = [e for e in events if e["agent"][0]["who"].get("identifier", {}).get("value") == "h"
            and {s["code"] for s in e["subtype"]} & {"read", "search-type"}]
    assert len(mine) >= 2
    # The projected event is the BALP event of the journalled access, under the journal's id.
    read_event = next(e for e in mine if e["subtype"][0]["code"] == "read")
    assert read_event["entity"][0]["what"] == {"reference": f"Patient/{a}"}
    assert read_event["meta"]["versionId"] == "1"
    again = call(svc.handler, "GET", f"AuditEvent/{read_event['id']}")
    assert again.status == 200 and again.body["recorded"] == read_event["recorded"]

    # Reading one AuditEvent by id projects that row, nothing else.
    _read(svc, hospital, f"Patient/{b}")
    svc.handler.guard.audit_writer.flush()
    with svc.engine.connect() as c:
        ids = [r[0] for r in c.execute(select(audit_journal.c.id).where(audit_journal.c.patient_id == b))]
    assert call(svc.handler, "GET", f"AuditEvent/{ids[0]}").status == 200
    assert _pending(svc, b) == len(ids) - 1


def test_a_system_level_search_or_revinclude_projects_everything(hospital_world):  # noqa: ANN001
    svc, hospital, (a, b) = hospital_world
    _read(svc, hospital, f"Patient/{a}")
    _read(svc, hospital, f"Patient/{b}")
    svc.handler.guard.audit_writer.flush()
    assert _pending(svc) == 2
    call(svc.handler, "GET", f"Patient?_id={a}&_revinclude=AuditEvent:patient")
    assert _pending(svc) == 0


def test_concurrent_projectors_store_each_event_once(hospital_world):  # noqa: ANN001
    svc, hospital, (a, b) = hospital_world
    for _ in range(30):
        _read(svc, hospital, f"Patient/{a}")
    svc.handler.guard.audit_writer.flush()
    before = _stored_events(svc)
    done: list[int] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            done.append(journal.project(svc.repo))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sum(done) == 30 and _stored_events(svc) == before + 30 and _pending(svc) == 0


def test_a_failed_projection_keeps_its_rows(hospital_world, monkeypatch):  # noqa: ANN001
    svc, hospital, (a, _) = hospital_world
    _read(svc, hospital, f"Patient/{a}")
    svc.handler.guard.audit_writer.flush()
    before = _stored_events(svc)

    def broken(row):  # noqa: ANN001, ANN202
        raise RuntimeError("disk full")
    monkeypatch.setattr(journal, "_event", broken)
    with pytest.raises(RuntimeError):
        journal.project(svc.repo)
    assert _pending(svc, a) == 1 and _stored_events(svc) == before
    monkeypatch.undo()
    assert journal.project(svc.repo) == 1 and _pending(svc) == 0


def test_the_journal_row_rebuilds_the_exact_event():
    actor = Actor("practitioner", "Dr Ozols", "32000000020", "prac-1", None, "org-1", "Riga East Hospital")
    access = Access("pat-1", "break-glass", "BTG", "17", interactions=["read"], entities=["Observation/1"],
                    query="Observation?x=1", break_glass=True)
    row = journal.entry(actor, access, "http://testserver/fhir", 1_764_800_000_000_000)
    assert row["patient_id"] == "pat-1" and len(row["body"]) < 800

    class R:
        id, recorded, body = row["id"], row["recorded"], row["body"]
    assert journal._event(R) == audit_event(actor, access, recorded=instant(row["recorded"]),
                                            server="http://testserver/fhir")


@pytest.mark.parametrize("url, expected", [
    ("AuditEvent?patient=p1,Patient/p2", journal.Scope(patients=("p1", "p2"))),
    ("AuditEvent/abc", journal.Scope(ids=("abc",))),
    ("AuditEvent?agent=Practitioner/x", journal.Scope()),
    ("AuditEvent?patient:identifier=x|1", journal.Scope()),
    ("Patient/p1/AuditEvent", journal.Scope(patients=("p1",))),
    ("_history", journal.Scope()),
    ("?_type=Patient,Observation", None),
    ("?_type=AuditEvent", journal.Scope()),
    ("Patient?_revinclude=AuditEvent:patient", journal.Scope()),
    ("Patient?_has:AuditEvent:patient:outcome=4", journal.Scope()),
    ("$break-glass-review", journal.Scope()),
    ("Observation?code=1234-5", None),
    ("Patient/p1/$everything", None),
    ("Patient/p1", None),
])
def test_which_requests_project_first(url, expected):  # noqa: ANN001
    assert journal.scope(FhirRequest.from_url("GET", url)) == expected


def test_evk_audit_project_empties_the_journal(hospital_world, monkeypatch):  # noqa: ANN001
    from click.testing import CliRunner

    from ehr_core.cli import main
    svc, hospital, (a, b) = hospital_world
    for pid in (a, b, a):
        _read(svc, hospital, f"Patient/{pid}")
    svc.handler.guard.audit_writer.flush()
    before = _stored_events(svc)
    monkeypatch.setenv("EVK_DATABASE_URL", str(svc.engine.url.render_as_string(hide_password=False)))
    result = CliRunner().invoke(main, ["audit", "project"])
    assert result.exit_code == 0, result.output
    assert "3 AuditEvents projected; the journal is empty" in result.output
    assert _pending(svc) == 0 and _stored_events(svc) == before + 3


@pytest.mark.parametrize("durable", [False, True])
def test_the_writer_s_batches_skip_the_wal_flush_unless_durable(service, durable):  # noqa: ANN001
    from sqlalchemy import event

    from ehr_core.audit import trail
    seen: list[str] = []
    listener = lambda conn, cur, st, params, ctx, many: seen.append(st)  # noqa: E731
    event.listen(service.engine, "before_cursor_execute", listener)
    try:
        row = journal.entry(Actor("system", client_id="c"), Access("p1", "system", "TREAT", "21"), "s", 1)
        trail.append_batch(service.repo, [row], trail.AuditStats(), durable=durable)
    finally:
        event.remove(service.engine, "before_cursor_execute", listener)
    assert _pending(service, "p1") == 1
    relaxed = any("synchronous_commit = off" in st for st in seen)
    assert relaxed == (not durable and service.engine.dialect.name == "postgresql")
