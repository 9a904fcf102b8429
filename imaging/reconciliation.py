"""The reconciliation list: studies whose patient could not be matched to a card, and their fix.

A study lands here (link_state ``unmatched``, with the reason) instead of being attached to a
guessed person; its instances stay stored, indexed and retrievable. An administrator resolves it
by naming the Patient; the study is then linked and its ImagingStudy written as for a match.
"""
from __future__ import annotations

from sqlalchemy import select, update

from ehr_core import errors
from ehr_core.storage.records import instant, now_micros
from imaging import index
from imaging.archive import Archive
from imaging.errors import BadRequest, NotFound
from imaging.fhir_link import link_study
from imaging.schema import imaging_series, imaging_study


def unmatched(archive: Archive) -> list[dict]:
    t, se = imaging_study, imaging_series
    with archive.reading() as conn:
        rows = list(conn.execute(select(t).where(t.c.link_state == "unmatched").order_by(t.c.created, t.c.study_uid)))
        modalities: dict[str, set[str]] = {}
        if rows:
            for r in conn.execute(select(se.c.study_uid, se.c.modality)
                                  .where(se.c.study_uid.in_([r.study_uid for r in rows]))):
                modalities.setdefault(r.study_uid, set()).add(r.modality)
    return [{
        "studyInstanceUID": r.study_uid, "patientID": r.patient_id, "issuerOfPatientID": r.issuer,
        "patientName": r.patient_name, "patientBirthDate": r.birth_date, "patientSex": r.sex,
        "studyDate": r.study_date, "accessionNumber": r.accession, "studyDescription": r.description,
        "modalities": sorted(m for m in modalities.get(r.study_uid, ()) if m),
        "numberOfSeries": r.num_series, "numberOfInstances": r.num_instances,
        "reason": r.link_note, "since": instant(r.created),
    } for r in rows]


def patient_id_of(reference: str) -> str:
    """``Patient/123`` or ``123`` → ``123``."""
    ref = reference.strip()
    if ref.startswith("Patient/"):
        ref = ref[len("Patient/"):]
    if not ref or "/" in ref:
        raise BadRequest(f"{reference!r} is not a Patient reference (Patient/<id>)")
    return ref


def resolve(archive: Archive, study_uid: str, patient_id: str, *, resolved_by: str) -> str:
    """Attach an unmatched study to ``Patient/patient_id``; returns the new link state."""
    t = imaging_study
    with archive.service.repo.session(write=True) as s:
        study = index.study_for_update(s, study_uid)
        if study is None:
            raise NotFound(f"study {study_uid} is not in the index")
        if study.link_state == "linked":
            raise BadRequest(f"study {study_uid} is already linked to Patient/{study.fhir_patient}")
        try:
            s.read("Patient", patient_id)
        except errors.FhirError as exc:
            raise BadRequest(f"Patient/{patient_id} cannot be used: {exc}") from None
        note = (f"resolved by {resolved_by} at {instant(now_micros())} to Patient/{patient_id} "
                f"(was: {study.link_note})")
        s.conn.execute(update(t).where(t.c.study_uid == study_uid).values(
            fhir_patient=patient_id, link_state="pending", link_note=note))
    return link_study(archive, study_uid)
