"""Imaging behind the same authentication, access guard and audit as /fhir (issue 6, docs/access.md),
on both engines: 401 without a token, STOW only by a hospital's system, QIDO narrowed in its query
to the studies whose Patient the caller may read, WADO decided per study by a guarded read of its
ImagingStudy (404 when not entitled: existence does not leak), administration for the register.
"""
from __future__ import annotations

import pytest
from sqlalchemy import select

from ehr_core.access import schema as access_schema
from imaging.schema import imaging_study
from tests.imaging.conftest import client_for
from tests.imaging.dicom_files import ANNA, CT, MR, add_patient, encode, variant
from tests.imaging.multipart_helpers import body
from tests.utils.fhir import call

STRANGER = "32000000030"
OTHER = "32000000007"
STUDY_UID = "0020000D"


@pytest.fixture
def setup(local_archive, handler):  # noqa: ANN001
    """Anna has a card and a CT stored by hospital A; another person's MR stored by hospital B;
    an unlinked study (a local MRN) stored by hospital A."""
    anna = add_patient(handler, ANNA, "Berzina", "Anna")
    other = add_patient(handler, OTHER, "Adult", "Test")
    add_patient(handler, STRANGER, "Stranger", "Test")
    http = client_for(local_archive, None)
    auth = http.auth_for
    ct = variant(CT, patient_id=ANNA, name="Berzina^Anna", birth="", fresh=True)
    mr = variant(MR, patient_id=OTHER, name="Adult^Test", birth="", fresh=True)
    loose = variant(CT, patient_id="LOCAL-7", name="Nobody^Known", fresh=True)
    for ds, who in ((ct, "hospital"), (mr, "hospital_b"), (loose, "hospital")):
        content, ctype = body([encode(ds)])
        resp = http.post("/dicomweb/studies", content=content, headers={"Content-Type": ctype, **auth.headers(who)})
        assert resp.status_code == 200, resp.text
    return http, auth, {"anna": anna, "other": other}, ct, mr, loose


def _row(archive, uid: str):  # noqa: ANN001, ANN202
    with archive.reading() as conn:
        return conn.execute(select(imaging_study).where(imaging_study.c.study_uid == uid)).first()


def _study_uids(resp) -> set[str]:  # noqa: ANN001
    assert resp.status_code == 200, resp.text
    return {s[STUDY_UID]["Value"][0] for s in resp.json()}


def _wado_urls(ds) -> list[str]:  # noqa: ANN001
    st, se, sop = ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID
    inst = f"/dicomweb/studies/{st}/series/{se}/instances/{sop}"
    return [f"/dicomweb/studies/{st}", f"/dicomweb/studies/{st}/metadata", f"/dicomweb/studies/{st}/series/{se}",
            f"{inst}", f"{inst}/metadata", f"{inst}/frames/1", f"{inst}/rendered", f"{inst}/thumbnail",
            f"/dicomweb/studies/{st}/thumbnail", f"/dicomweb/studies/{st}/series", f"/dicomweb/studies/{st}/instances",
            f"/imaging/studies/{st}/reports"]


def test_no_token_is_401_everywhere(setup):
    http, auth, _, ct, _, _ = setup
    content, ctype = body([encode(variant(CT, fresh=True))])
    answers = [http.get("/dicomweb/studies"), http.get("/dicomweb/series"), http.get("/dicomweb/instances"),
               http.post("/dicomweb/studies", content=content, headers={"Content-Type": ctype}),
               http.get("/dicomweb-admin/reconciliation"), http.post("/dicomweb-admin/relink"),
               *(http.get(url) for url in _wado_urls(ct))]
    for resp in answers:
        assert resp.status_code == 401, (resp.request.url, resp.text)
        assert resp.headers["www-authenticate"].startswith('Bearer realm="evk"')
        assert resp.json()["resourceType"] == "OperationOutcome"
        assert resp.json()["issue"][0]["code"] == "login"
    bad = http.get("/dicomweb/studies", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401 and 'error="invalid_token"' in bad.headers["www-authenticate"]


def test_stow_only_by_a_hospital_system_which_is_recorded_as_submitter(setup, local_archive):
    http, auth, ids, ct, mr, loose = setup
    content, ctype = body([encode(variant(CT, fresh=True))])
    for who in (auth.person(ANNA), auth.person(STRANGER), auth.headers("admin")):
        resp = http.post("/dicomweb/studies", content=content, headers={"Content-Type": ctype, **who})
        assert resp.status_code == 403, resp.text
        assert resp.json()["resourceType"] == "OperationOutcome"
    hospital_a = http.get("/auth/me", headers=auth.headers("hospital")).json()["organization"]
    hospital_b = http.get("/auth/me", headers=auth.headers("hospital_b")).json()["organization"]
    row = _row(local_archive, ct.StudyInstanceUID)
    assert row.link_state == "linked" and row.fhir_patient == ids["anna"] and row.submitted_by == hospital_a
    assert _row(local_archive, mr.StudyInstanceUID).submitted_by == hospital_b
    assert _row(local_archive, loose.StudyInstanceUID).link_state == "unmatched"
    with local_archive.reading() as conn:
        t = access_schema.resource_origin
        origin = conn.execute(select(t.c.organization_id).where(
            t.c.resource_type == "ImagingStudy", t.c.resource_id == row.fhir_study)).scalar_one()
    assert origin == hospital_a
    # Storing more into a study does not change who submitted it.
    more = variant(CT, patient_id=ANNA, name="Berzina^Anna", birth="", fresh=True, study=ct.StudyInstanceUID)
    content, ctype = body([encode(more)])
    assert http.post("/dicomweb/studies", content=content,
                     headers={"Content-Type": ctype, **auth.headers("hospital_b")}).status_code == 200
    assert _row(local_archive, ct.StudyInstanceUID).submitted_by == hospital_a


def test_the_patient_reads_their_study_and_a_stranger_gets_nothing(setup):
    http, auth, _, ct, mr, loose = setup
    anna, stranger = auth.person(ANNA), auth.person(STRANGER)
    assert _study_uids(http.get("/dicomweb/studies", headers=anna)) == {ct.StudyInstanceUID}
    series = http.get("/dicomweb/series", headers=anna)
    assert {s["0020000E"]["Value"][0] for s in series.json()} == {ct.SeriesInstanceUID}
    instances = http.get("/dicomweb/instances", headers=anna)
    assert {s["00080018"]["Value"][0] for s in instances.json()} == {ct.SOPInstanceUID}
    for url in _wado_urls(ct):
        resp = http.get(url, headers=anna)
        assert resp.status_code == 200, (url, resp.text)

    assert http.get("/dicomweb/studies", headers=stranger).json() == []
    assert http.get("/dicomweb/instances", headers=stranger).json() == []
    unknown = http.get("/dicomweb/studies/1.2.3.999/metadata", headers=stranger)
    for url in _wado_urls(ct) + _wado_urls(mr) + _wado_urls(loose):
        resp = http.get(url, headers=stranger)
        assert resp.status_code == 404, (url, resp.text)
        assert resp.json()["resourceType"] == "OperationOutcome"
        assert unknown.status_code == 404 and resp.json()["issue"][0]["code"] == unknown.json()["issue"][0]["code"]
    # The patient does not see another person's study either.
    for url in _wado_urls(mr):
        assert http.get(url, headers=anna).status_code == 404


def test_reads_are_audited_for_the_patient(setup, local_archive, handler):
    http, auth, ids, ct, _, _ = setup
    fhir_study = _row(local_archive, ct.StudyInstanceUID).fhir_study
    assert http.get(f"/dicomweb/studies/{ct.StudyInstanceUID}/metadata", headers=auth.person(ANNA)).status_code == 200
    assert http.get(f"/dicomweb/studies/{ct.StudyInstanceUID}/metadata",
                    headers=auth.person(STRANGER)).status_code == 404
    assert http.get("/dicomweb/studies", headers=auth.person(ANNA)).status_code == 200
    local_archive.service.handler.guard.audit_writer.flush()
    events = [e["resource"] for e in call(handler, "GET", f"AuditEvent?patient={ids['anna']}&_count=200").body["entry"]]
    reads = [e for e in events if any(ent.get("what", {}).get("reference") == f"ImagingStudy/{fhir_study}"
                                      for ent in e.get("entity") or [])]
    assert {e["outcome"] for e in reads} >= {"0", "4"}                 # the patient's read, the stranger's refusal
    assert any(e["subtype"][0]["code"] == "search-type" and e["outcome"] == "0" for e in events)   # the QIDO search


def test_hospitals_see_what_they_submitted(setup):
    http, auth, _, ct, mr, loose = setup
    a, b = auth.headers("hospital"), auth.headers("hospital_b")
    assert _study_uids(http.get("/dicomweb/studies", headers=a)) == {ct.StudyInstanceUID, loose.StudyInstanceUID}
    assert _study_uids(http.get("/dicomweb/studies", headers=b)) == {mr.StudyInstanceUID}
    assert http.get(f"/dicomweb/studies/{ct.StudyInstanceUID}/metadata", headers=a).status_code == 200
    assert http.get(f"/dicomweb/studies/{loose.StudyInstanceUID}/metadata", headers=a).status_code == 200
    assert http.get(f"/dicomweb/studies/{ct.StudyInstanceUID}/metadata", headers=b).status_code == 404
    assert http.get(f"/dicomweb/studies/{loose.StudyInstanceUID}/metadata", headers=b).status_code == 404


def test_administration_is_for_the_register_and_registry_officers(setup, handler):
    http, auth, ids, ct, _, loose = setup
    for who in (auth.headers("hospital"), auth.person(ANNA)):
        assert http.get("/dicomweb-admin/reconciliation", headers=who).status_code == 403
        assert http.post(f"/dicomweb-admin/reconciliation/{loose.StudyInstanceUID}", headers=who,
                         json={"patient": f"Patient/{ids['other']}"}).status_code == 403
    admin = auth.headers("admin")
    listed = http.get("/dicomweb-admin/reconciliation", headers=admin)
    assert [s["studyInstanceUID"] for s in listed.json()] == [loose.StudyInstanceUID]
    # The administrator sees the unlinked study (to reconcile it), not patients' linked studies.
    assert _study_uids(http.get("/dicomweb/studies", headers=admin)) == {loose.StudyInstanceUID}
    assert http.get(f"/dicomweb/studies/{loose.StudyInstanceUID}/metadata", headers=admin).status_code == 200
    assert http.get(f"/dicomweb/studies/{ct.StudyInstanceUID}/metadata", headers=admin).status_code == 404

    # A registry officer (practitioner with an active registry-officer role) administers too.
    pr = call(handler, "POST", "Practitioner", {"resourceType": "Practitioner", "name": [{"family": "Officer"}]}).body["id"]
    assert call(handler, "POST", "PractitionerRole", {
        "resourceType": "PractitionerRole", "active": True, "practitioner": {"reference": f"Practitioner/{pr}"},
        "code": [{"coding": [{"system": "https://evk.lv/fhir/CodeSystem/practitioner-role",
                              "code": "registry-officer"}]}]}).status == 201
    officer = auth.person("32000000022", practitioner=pr)
    resp = http.post(f"/dicomweb-admin/reconciliation/{loose.StudyInstanceUID}", headers=officer,
                     json={"patient": f"Patient/{ids['other']}"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["linkState"] == "linked"
    # Now linked to the other person: they see it; the administrators no longer do.
    assert loose.StudyInstanceUID in _study_uids(http.get("/dicomweb/studies", headers=auth.person(OTHER)))
    assert http.get("/dicomweb/studies", headers=admin).json() == []
    # The hospital that submitted it still reads it (its origin follows the ImagingStudy).
    assert http.get(f"/dicomweb/studies/{loose.StudyInstanceUID}/metadata",
                    headers=auth.headers("hospital")).status_code == 200
