"""STOW-RS: store instances sent as multipart/related; type="application/dicom" (PS3.18 10.5).

The parts go through the ingest pipeline as one batch (one index transaction, one group fsync),
each succeeding or failing on its own; the answer is the Store Instances
Response Module (PS3.18 Annex I) as DICOM JSON: 200 when every instance was stored, 202 when
some failed (Failed SOP Sequence beside the Referenced SOP Sequence), 409 when none was stored
(PS3.18 10.5.3.1). The reason for each failure is also given as text in a ``Warning`` header
(PS3.18 8.5.1 allows 299 warnings), since the JSON module has only the numeric code.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from imaging.archive import Archive
from imaging.dicomweb import multipart
from imaging.dicomweb.urls import Urls
from imaging.errors import CANNOT_UNDERSTAND, BadRequest, UnsupportedMediaType
from imaging.ingest import Outcome, Report, Submitter, ingest

DICOM = "application/dicom"


@dataclass
class StowResult:
    status: int
    body: dict
    warnings: list[str] = field(default_factory=list)


def store(archive: Archive, body: bytes, content_type: str, urls: Urls, submitter: Submitter, *,
          study_uid: str | None = None) -> StowResult:
    media, params = multipart.media_type_params(content_type)
    if media != "multipart/related":
        raise UnsupportedMediaType(f"STOW-RS takes multipart/related; type=\"{DICOM}\", not {media or 'nothing'}")
    part_type = params.get("type", "").lower()
    if part_type and part_type != DICOM:
        raise UnsupportedMediaType(f"only type=\"{DICOM}\" parts are accepted (not {part_type}): send PS3.10 files")
    parts = multipart.parse(body, content_type)
    if not parts:
        raise BadRequest("the request has no parts")
    items, refused = [], []
    for n, part in enumerate(parts, 1):
        ptype = multipart.media_type_params(part.content_type)[0] or part_type or DICOM
        if ptype != DICOM:
            refused.append(Outcome(f"part {n}", False, reason=CANNOT_UNDERSTAND,
                                   message=f"a {ptype} part; only {DICOM} is accepted"))
        else:
            items.append((part.body, f"part {n}"))
    report = ingest(archive, items, submitter, expected_study=study_uid)
    report.outcomes = refused + report.outcomes
    return response(report, urls, study_uid)


def response(report: Report, urls: Urls, study_uid: str | None) -> StowResult:
    stored, failed = report.stored, report.failed
    body: dict = {}
    studies = {o.study_uid for o in stored}
    target = study_uid or (next(iter(studies)) if len(studies) == 1 else None)
    body["00081190"] = {"vr": "UR", "Value": [urls.study(target)]} if target else {"vr": "UR"}
    if failed:
        body["00081198"] = {"vr": "SQ", "Value": [_failed_item(o) for o in failed]}
    if stored:
        body["00081199"] = {"vr": "SQ", "Value": [_stored_item(o, urls) for o in stored]}
    warnings = [f"{o.label}: {o.message}" for o in failed]
    warnings += [f"study {uid}: stored, but its ImagingStudy is not yet in step ({why})"
                 for uid, why in report.link_problems.items()]
    status = 200 if not failed else 202 if stored else 409
    return StowResult(status, body, warnings)


def _failed_item(o: Outcome) -> dict:
    item = {"00081150": {"vr": "UI", "Value": [o.sop_class]} if o.sop_class else {"vr": "UI"},
            "00081155": {"vr": "UI", "Value": [o.sop_uid]} if o.sop_uid else {"vr": "UI"},
            "00081197": {"vr": "US", "Value": [o.reason]}}
    return item


def _stored_item(o: Outcome, urls: Urls) -> dict:
    return {"00081150": {"vr": "UI", "Value": [o.sop_class]},
            "00081155": {"vr": "UI", "Value": [o.sop_uid]},
            "00081190": {"vr": "UR", "Value": [urls.instance(o.study_uid, o.series_uid, o.sop_uid)]}}
