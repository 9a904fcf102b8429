"""Linking studies to the card's Patient: ImagingStudy + Endpoint kept in step, reconciliation for
everything that cannot be matched safely, reports shown with their study."""
from __future__ import annotations

from sqlalchemy import select

from imaging.ingest import ingest
from imaging.schema import imaging_study
from tests.imaging.dicom_files import TESTS
from tests.imaging.dicom_files import (ANNA, CT, MR, PETER, add_patient, dicomdir_for_peter, encode, read,
                                       variant)
from tests.utils.fhir import call

ACSN = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "ACSN"}]}


def _imaging_study(handler, study_uid: str) -> dict | None:  # noqa: ANN001
    resp = call(handler, "GET", f"ImagingStudy?identifier=urn:dicom:uid|urn:oid:{study_uid}")
    entries = resp.body.get("entry", [])
    assert len(entries) <= 1
    return entries[0]["resource"] if entries else None


def _state(archive, study_uid: str):  # noqa: ANN001, ANN202
    with archive.reading() as conn:
        return conn.execute(select(imaging_study).where(imaging_study.c.study_uid == study_uid)).first()


def test_dicomdir_studies_link_to_the_card(local_archive, handler):
    peter = add_patient(handler, PETER, "Doe", "Peter", "1975-11-16")
    report = ingest(local_archive, dicomdir_for_peter(), TESTS)
    assert not report.failed and not report.link_problems
    with local_archive.reading() as conn:
        rows = list(conn.execute(select(imaging_study)))
    linked = [r for r in rows if r.link_state == "linked"]
    assert len(linked) == 4 and {r.fhir_patient for r in linked} == {peter}
    assert {r.link_state for r in rows if r.patient_id == "77654033"} == {"unmatched"}

    big = max(linked, key=lambda r: r.num_instances)
    study = _imaging_study(handler, big.study_uid)
    assert study["id"] == big.fhir_study and study["subject"] == {"reference": f"Patient/{peter}"}
    assert study["identifier"][0] == {"use": "official", "system": "urn:dicom:uid",
                                      "value": f"urn:oid:{big.study_uid}"}
    assert study["identifier"][1] == {"use": "usual", "type": ACSN, "value": big.accession}
    assert study["numberOfSeries"] == big.num_series == len(study["series"])
    assert study["numberOfInstances"] == big.num_instances == sum(len(s["instance"]) for s in study["series"])
    assert study["modality"] == [{"system": "http://dicom.nema.org/resources/ontology/DCM", "code": "MR"}]
    assert study["started"].startswith(f"{big.study_date[:4]}-{big.study_date[4:6]}-{big.study_date[6:]}T")
    instance = study["series"][0]["instance"][0]
    assert instance["sopClass"] == {"system": "urn:ietf:rfc:3986", "code": "urn:oid:1.2.840.10008.5.1.4.1.1.4"}

    endpoint = call(handler, "GET", study["endpoint"][0]["reference"]).body
    assert endpoint["connectionType"]["code"] == "dicom-wado-rs"
    assert endpoint["address"] == local_archive.settings.dicomweb_base and endpoint["status"] == "active"
    # Every study points at the same Endpoint.
    others = [_imaging_study(handler, r.study_uid) for r in linked]
    assert {s["endpoint"][0]["reference"] for s in others} == {study["endpoint"][0]["reference"]}


def test_imaging_study_kept_in_step_as_instances_arrive(local_archive, handler):
    add_patient(handler, ANNA, "Berzina", "Anna")
    first = variant(CT, patient_id=ANNA, name="BERZINA^ANNA", fresh=True, accession="A100")
    more = [variant(CT, patient_id=ANNA, name="Berzina^Anna", fresh=True, study=first.StudyInstanceUID,
                    series=first.SeriesInstanceUID) for _ in range(2)]
    ingest(local_archive, [(encode(first), "1")], TESTS)
    study = _imaging_study(handler, first.StudyInstanceUID)
    assert study["numberOfInstances"] == 1 and study["meta"]["versionId"] == "1"
    ingest(local_archive, [(encode(d), "more") for d in more], TESTS)
    study = _imaging_study(handler, first.StudyInstanceUID)
    assert study["numberOfInstances"] == 3 and study["meta"]["versionId"] == "2"
    assert len(study["series"]) == 1 and len(study["series"][0]["instance"]) == 3
    ingest(local_archive, [(encode(first), "again")], TESTS)                # nothing new: no new version
    assert _imaging_study(handler, first.StudyInstanceUID)["meta"]["versionId"] == "2"


def test_unmatched_reasons_never_guess(local_archive, handler):
    add_patient(handler, PETER, "Doe", "Peter", "1975-11-16")
    add_patient(handler, "010101-10006", "Twin", birth="1901-01-01")
    add_patient(handler, "010101-10006", "Twin", birth="1901-01-01")
    cases = {
        "no-such-card": variant(CT, patient_id=ANNA, fresh=True),
        "bad-code": variant(CT, patient_id="161175-19998", fresh=True),
        "local-mrn": variant(CT, patient_id="77654033", fresh=True),
        "born-other-day": variant(CT, patient_id=PETER, name="Doe^Peter", birth="19800101", fresh=True),
        "other-family": variant(CT, patient_id=PETER, name="Smith^Peter", birth="", fresh=True),
        "two-cards": variant(CT, patient_id="010101-10006", name="Twin", fresh=True),
    }
    foreign = variant(CT, patient_id=PETER, name="Doe^Peter", birth="", fresh=True)
    foreign.IssuerOfPatientID = "HOSPITAL-X"
    cases["foreign-issuer"] = foreign
    ingest(local_archive, [(encode(ds), name) for name, ds in cases.items()], TESTS)
    expected = {"no-such-card": "no Patient has personal code 328673-00679",
                "bad-code": "not a valid personal code (check-digit",
                "local-mrn": "not a valid personal code (format",
                "born-other-day": "the study says born 19800101, the card 1975-11-16",
                "other-family": "family name 'Smith' is not the card's",
                "two-cards": "more than one Patient has personal code 010101-10006",
                "foreign-issuer": "IssuerOfPatientID 'HOSPITAL-X' is not the national personal code"}
    for name, ds in cases.items():
        row = _state(local_archive, ds.StudyInstanceUID)
        assert row.link_state == "unmatched" and row.fhir_patient is None, name
        assert expected[name] in row.link_note, (name, row.link_note)
        assert _imaging_study(handler, ds.StudyInstanceUID) is None


def test_reconciliation_list_and_resolution(local_archive, local_client, handler):
    local_client.headers.update(local_client.auth_for.headers("admin"))
    ds = variant(MR, patient_id="4MR1", fresh=True)
    ingest(local_archive, [(encode(ds), "mr")], TESTS)
    listed = local_client.get("/dicomweb-admin/reconciliation").json()
    assert [s["studyInstanceUID"] for s in listed] == [ds.StudyInstanceUID]
    assert listed[0]["patientID"] == "4MR1" and listed[0]["modalities"] == ["MR"]
    assert "not a valid personal code" in listed[0]["reason"]

    bad = local_client.post(f"/dicomweb-admin/reconciliation/{ds.StudyInstanceUID}", json={"patient": "Patient/nope"})
    assert bad.status_code == 400
    patient = add_patient(handler, ANNA, "Compressedsamples")
    resp = local_client.post(f"/dicomweb-admin/reconciliation/{ds.StudyInstanceUID}",
                             json={"patient": f"Patient/{patient}"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["linkState"] == "linked" and resp.json()["patient"] == f"Patient/{patient}"
    assert local_client.get("/dicomweb-admin/reconciliation").json() == []
    study = _imaging_study(handler, ds.StudyInstanceUID)
    assert study["subject"]["reference"] == f"Patient/{patient}"
    assert "resolved by client " in _state(local_archive, ds.StudyInstanceUID).link_note
    # Later instances of the resolved study follow it to the same Patient.
    more = variant(MR, patient_id="4MR1", fresh=True, study=ds.StudyInstanceUID)
    ingest(local_archive, [(encode(more), "mr2")], TESTS)
    assert _imaging_study(handler, ds.StudyInstanceUID)["numberOfInstances"] == 2
    again = local_client.post(f"/dicomweb-admin/reconciliation/{ds.StudyInstanceUID}",
                              json={"patient": f"Patient/{patient}"})
    assert again.status_code == 400                               # already linked


def test_card_created_later_links_on_next_instance(local_archive, handler):
    ds = variant(CT, patient_id=PETER, name="Doe^Peter", birth="", fresh=True)
    ingest(local_archive, [(encode(ds), "1")], TESTS)
    assert _state(local_archive, ds.StudyInstanceUID).link_state == "unmatched"
    add_patient(handler, "16117519997", "Doe")                    # the card stores the code without hyphen
    more = variant(read(CT), patient_id=PETER, name="Doe^Peter", birth="", fresh=True, study=ds.StudyInstanceUID)
    ingest(local_archive, [(encode(more), "2")], TESTS)
    assert _state(local_archive, ds.StudyInstanceUID).link_state == "linked"


def test_reports_are_shown_with_their_study(local_archive, local_client, handler):
    patient = add_patient(handler, PETER, "Doe")
    ds = variant(CT, patient_id=PETER, name="Doe^Peter", birth="", fresh=True)
    ingest(local_archive, [(encode(ds), "ct")], TESTS)
    study = _imaging_study(handler, ds.StudyInstanceUID)
    report = {"resourceType": "DiagnosticReport", "status": "final",
              "code": {"coding": [{"system": "http://loinc.org", "code": "18748-4"}]},
              "subject": {"reference": f"Patient/{patient}"},
              "imagingStudy": [{"reference": f"ImagingStudy/{study['id']}"}], "conclusion": "No findings."}
    assert call(handler, "POST", "DiagnosticReport", report).status == 201
    other = dict(report, imagingStudy=[], conclusion="another study")
    other.pop("imagingStudy")
    assert call(handler, "POST", "DiagnosticReport", other).status == 201
    bundle = local_client.get(f"/imaging/studies/{ds.StudyInstanceUID}/reports",
                              headers=local_client.auth_for.person(PETER)).json()
    assert bundle["total"] == 1 and bundle["entry"][0]["resource"]["conclusion"] == "No findings."
