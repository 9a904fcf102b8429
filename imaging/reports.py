"""Imaging reports shown with their study: FHIR DiagnosticReports whose ``imagingStudy`` references
the study's ImagingStudy (https://hl7.org/fhir/R4/diagnosticreport.html).

R4 defines no search parameter on DiagnosticReport.imagingStudy, so the reports are found
among the patient's DiagnosticReports (an indexed ``subject`` search) and kept if they name the
study. With a ``principal`` (every HTTP caller) the search goes through the FHIR handler and so
the access guard: it is narrowed to the reports the caller may see (a guardian does not get a
14-year-old's sensitive report) and audited like any search.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from ehr_core.rest.messages import FhirRequest
from ehr_core.search.engine import find_matches
from imaging import index
from imaging.archive import Archive

MAX_REPORTS = 10_000


def reports_for_study(archive: Archive, study_uid: str, principal=None) -> list[dict]:  # noqa: ANN001
    if principal is not None:
        return _guarded(archive, study_uid, principal)
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


def _guarded(archive: Archive, study_uid: str, principal) -> list[dict]:  # noqa: ANN001
    service = archive.service
    with archive.reading() as conn:
        study = index.study(conn, study_uid)
    if not study.fhir_study or not study.fhir_patient:
        return []
    target = f"ImagingStudy/{study.fhir_study}"
    absolute = f"{service.settings.fhir_base}/{target}"
    query = [("subject", f"Patient/{study.fhir_patient}"), ("_count", str(service.settings.max_page_size))]
    out: list[dict] = []
    for _ in range(MAX_REPORTS // service.settings.max_page_size + 1):
        resp = service.handler.handle(FhirRequest("GET", "DiagnosticReport", query, {}, None, principal=principal))
        if resp.status != 200:
            return []
        body = resp.body or {}
        for e in body.get("entry") or []:
            report = e.get("resource") or {}
            if report.get("resourceType") == "DiagnosticReport" and any(
                    ref.get("reference") in (target, absolute) for ref in report.get("imagingStudy") or []):
                out.append(report)
        nxt = next((link["url"] for link in body.get("link") or [] if link.get("relation") == "next"), None)
        if not nxt:
            break
        query = parse_qsl(urlsplit(nxt).query, keep_blank_values=True)
    return out
