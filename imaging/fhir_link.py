"""Keep each indexed study's FHIR ImagingStudy in step with the index.

A study is linked in one unit of work of the FHIR core: the study row is locked, the Patient is
matched (imaging/patient_match.py) unless an earlier link or an administrator fixed it, the
Endpoint and the ImagingStudy are written through ``Handler.dispatch`` (so validation and the
search index run as for any client write), and the row records what was published. Writes are
conditional updates on identifiers, so repeating a link changes nothing.

``revision`` counts index changes of the study and ``synced_revision`` what the ImagingStudy
shows; a study whose link failed stays out of step and is retried by ``link_pending``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from sqlalchemy import or_, select, update

from ehr_core import errors
from ehr_core.rest.messages import FhirRequest
from ehr_core.storage.repository import Session
from imaging import index
from imaging.archive import Archive
from imaging.fhir_resources import RFC3986, endpoint_resource, imaging_study_resource, study_identifier
from imaging.patient_match import match_patient
from imaging.schema import imaging_study

log = logging.getLogger("evk.imaging.link")


def link_studies(archive: Archive, study_uids: Iterable[str]) -> dict[str, str]:
    """Link each study; returns {study UID: problem} for those that could not be brought in step."""
    problems: dict[str, str] = {}
    for uid in sorted(set(study_uids)):
        try:
            link_study(archive, uid)
        except Exception as exc:  # noqa: BLE001 - one study's failure must not stop the others
            log.exception("linking study %s failed", uid)
            problems[uid] = str(exc)
            archive.endpoint_id = None                  # written again next time
    return problems


def link_pending(archive: Archive) -> dict[str, str]:
    """Retry every study whose ImagingStudy is out of step with the index."""
    t = imaging_study
    with archive.reading() as conn:
        uids = [r.study_uid for r in conn.execute(select(t.c.study_uid).where(
            or_(t.c.link_state == "pending", t.c.revision != t.c.synced_revision)))]
    return link_studies(archive, uids)


def link_study(archive: Archive, study_uid: str) -> str:
    """Bring one study in step; returns its link state (``linked`` or ``unmatched``)."""
    t = imaging_study
    with archive.service.repo.session(write=True) as s:
        study = index.study_for_update(s, study_uid)
        if study is None:
            raise LookupError(f"study {study_uid} is not in the index")
        if study.link_state != "pending" and study.synced_revision == study.revision:
            return study.link_state
        patient_id = study.fhir_patient
        if patient_id is None:
            found = match_patient(s, patient_id=study.patient_id, issuer=study.issuer, name=study.patient_name,
                                  birth_date=study.birth_date, national_issuers=archive.settings.national_issuers)
            if not found.found:
                s.conn.execute(update(t).where(t.c.study_uid == study_uid).values(
                    link_state="unmatched", link_note=found.reason, synced_revision=study.revision))
                log.info("study %s goes to reconciliation: %s", study_uid, found.reason)
                return "unmatched"
            patient_id = found.patient_id
        fhir_study, endpoint_id = publish(archive, s, study, patient_id)
        if study.submitted_by:
            # Rule 21: the submitting hospital's system reads the ImagingStudy it submitted.
            from imaging.access import record_origin
            record_origin(s.conn, fhir_study, study.submitted_by)
        # An administrator's resolution keeps its note (who linked it, when); a match needs none.
        note = study.link_note if study.fhir_patient else ""
        s.conn.execute(update(t).where(t.c.study_uid == study_uid).values(
            link_state="linked", link_note=note, fhir_patient=patient_id, fhir_study=fhir_study,
            synced_revision=study.revision))
    archive.endpoint_id = endpoint_id               # committed: later links reuse it
    return "linked"


def publish(archive: Archive, s: Session, study, patient_id: str) -> tuple[str, str]:  # noqa: ANN001 - a study row
    """Write the Endpoint (once per archive: it is the same for every study; writing it at every
    link was a third of the linking time) and the ImagingStudy; returns their ids."""
    base = archive.settings.dicomweb_base
    endpoint_id = archive.endpoint_id or _put(archive, s, "Endpoint", f"{RFC3986}|{base}", endpoint_resource(base))
    series = index.series_of(s.conn, study.study_uid)
    instances = index.instance_summaries(s.conn, study.study_uid)
    resource = imaging_study_resource(study, series, instances, patient_id=patient_id, endpoint_id=endpoint_id,
                                      tz_offset=study.tz_offset)
    return _put(archive, s, "ImagingStudy", study_identifier(study.study_uid), resource), endpoint_id


def _put(archive: Archive, s: Session, resource_type: str, identifier: str, resource: dict) -> str:
    """Conditional update by identifier (http.html#cond-update); returns the resource id."""
    req = FhirRequest("PUT", resource_type, [("identifier", identifier)], {"prefer": "return=minimal"}, resource)
    resp = archive.service.handler.dispatch(req, s)
    location = resp.headers.get("Location", "")
    parts = location.split("/")
    if resp.status not in (200, 201) or resource_type not in parts:
        raise errors.FhirError(500, [errors.Issue("error", "exception",
                                                  f"writing {resource_type} answered {resp.status}")])
    return parts[parts.index(resource_type) + 1]
