"""Imaging reports shown with their study: FHIR DiagnosticReports whose ``imagingStudy`` references
the study's ImagingStudy (https://hl7.org/fhir/R4/diagnosticreport.html).

R4 defines no search parameter on DiagnosticReport.imagingStudy, so the reports are found
among the patient's DiagnosticReports (an indexed ``subject`` search) and kept if they name the
study. That reads one patient's reports, which the caller has already been allowed to see.
"""
from __future__ import annotations

from ehr_core.search.engine import find_matches
from imaging import index
from imaging.archive import Archive

MAX_REPORTS = 10_000


def reports_for_study(archive: Archive, study_uid: str) -> list[dict]:
    with archive.service.repo.session() as s:
        study = index.study(s.conn, study_uid)
        if not study.fhir_study or not study.fhir_patient:
            return []
        target = f"ImagingStudy/{study.fhir_study}"
        absolute = f"{archive.service.settings.fhir_base}/{target}"
        found = find_matches(s.conn, "DiagnosticReport", [("subject", f"Patient/{study.fhir_patient}")],
                             limit=MAX_REPORTS)
        out = []
        for rt, rid in found:
            report = s.read(rt, rid).resource()
            if any(ref.get("reference") in (target, absolute) for ref in report.get("imagingStudy") or []):
                out.append(report)
        return out
