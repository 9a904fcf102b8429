"""The FHIR resources the index publishes: ImagingStudy and its DICOMweb Endpoint (pure builders).

Mapping per ../../shared/standards/imaging.md and https://hl7.org/fhir/R4/imagingstudy.html
(DICOM UIDs as ``urn:oid:``, modality codes from DICOM's DCM ontology, sopClass with system
``urn:ietf:rfc:3986``); Endpoint per https://hl7.org/fhir/R4/endpoint.html with connectionType
``dicom-wado-rs`` so clients find the images from the study (IHE MADO direction).
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo

from sqlalchemy import Row

DICOM_UID_SYSTEM = "urn:dicom:uid"
RFC3986 = "urn:ietf:rfc:3986"
DCM = "http://dicom.nema.org/resources/ontology/DCM"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"
CONNECTION_TYPE = "http://terminology.hl7.org/CodeSystem/endpoint-connection-type"
# DICOM times carry no zone unless Timezone Offset From UTC (0008,0201) is sent; FHIR needs one
# when a time is given. Modalities of a Latvian service run on Latvian time.
LOCAL_ZONE = ZoneInfo("Europe/Riga")


def study_identifier(study_uid: str) -> str:
    """The token to find the ImagingStudy of a study: ``identifier=urn:dicom:uid|urn:oid:<uid>``."""
    return f"{DICOM_UID_SYSTEM}|urn:oid:{study_uid}"


def endpoint_resource(dicomweb_base: str) -> dict:
    return {
        "resourceType": "Endpoint",
        "identifier": [{"system": RFC3986, "value": dicomweb_base}],
        "status": "active",
        "connectionType": {"system": CONNECTION_TYPE, "code": "dicom-wado-rs"},
        "name": "EVK DICOMweb (WADO-RS)",
        "payloadType": [{"text": "DICOM WADO-RS"}],
        "payloadMimeType": ["application/dicom"],
        "address": dicomweb_base,
    }


def imaging_study_resource(study: Row, series: list[Row], instances: list[Row], *, patient_id: str,
                           endpoint_id: str, tz_offset: str = "") -> dict:
    """ImagingStudy for one indexed study; ``instances`` are all of its instance rows."""
    by_series: dict[str, list[Row]] = {}
    for inst in instances:
        by_series.setdefault(inst.series_uid, []).append(inst)
    identifiers: list[dict] = [{"use": "official", "system": DICOM_UID_SYSTEM, "value": f"urn:oid:{study.study_uid}"}]
    if study.accession:
        identifiers.append({"use": "usual", "type": {"coding": [{"system": V2_0203, "code": "ACSN"}]},
                            "value": study.accession})
    modalities = sorted({s.modality or "OT" for s in series})
    out: dict = {
        "resourceType": "ImagingStudy",
        "identifier": identifiers,
        "status": "available",
        "modality": [{"system": DCM, "code": m} for m in modalities],
        "subject": {"reference": f"Patient/{patient_id}"},
    }
    started = fhir_datetime(study.study_date, study.study_time, tz_offset)
    if started:
        out["started"] = started
    out["endpoint"] = [{"reference": f"Endpoint/{endpoint_id}"}]
    out["numberOfSeries"] = len(series)
    out["numberOfInstances"] = len(instances)
    if study.description:
        out["description"] = study.description
    out["series"] = [_series(s, by_series.get(s.series_uid, [])) for s in series]
    return out


def _series(s: Row, instances: list[Row]) -> dict:
    out: dict = {"uid": s.series_uid}
    if s.series_number is not None:
        out["number"] = s.series_number
    out["modality"] = {"system": DCM, "code": s.modality or "OT"}
    if s.description:
        out["description"] = s.description
    out["numberOfInstances"] = len(instances)
    if s.body_part:
        out["bodySite"] = body_site(s.body_part)
    out["instance"] = [_instance(i) for i in instances]
    return out


def _instance(i: Row) -> dict:
    out: dict = {"uid": i.sop_uid, "sopClass": {"system": RFC3986, "code": f"urn:oid:{i.sop_class}"}}
    if i.instance_number is not None:
        out["number"] = i.instance_number
    return out


def body_site(term: str) -> dict:
    """SNOMED CT for a Body Part Examined term (PS3.16 Annex L), else the term as display."""
    table = _body_parts()
    hit = table["map"].get(term.upper())
    if hit is None:
        return {"display": term}
    return {"system": table["system"], "code": hit[0], "display": hit[1]}


@cache
def _body_parts() -> dict:
    return json.loads(resources.files("imaging").joinpath("data/body_parts.json").read_text("utf-8"))


def fhir_datetime(da: str, tm: str, tz_offset: str = "") -> str:
    """DICOM DA + TM (+ Timezone Offset From UTC "+HHMM") as a FHIR dateTime (PS3.5 6.2)."""
    if len(da) != 8 or not da.isdigit():
        return ""
    date_text = f"{da[:4]}-{da[4:6]}-{da[6:]}"
    clock = tm.replace(":", "").split(".")[0]
    if len(clock) < 4 or not clock.isdigit():
        return date_text
    hh, mm, ss = int(clock[:2]), int(clock[2:4]), int(clock[4:6]) if len(clock) >= 6 else 0
    try:
        naive = datetime(int(da[:4]), int(da[4:6]), int(da[6:]), hh, mm, min(ss, 59))
    except ValueError:
        return date_text
    if len(tz_offset) == 5 and tz_offset[0] in "+-" and tz_offset[1:].isdigit():
        sign = 1 if tz_offset[0] == "+" else -1
        zone = timezone(sign * timedelta(hours=int(tz_offset[1:3]), minutes=int(tz_offset[3:])))
        return naive.replace(tzinfo=zone).isoformat()
    return naive.replace(tzinfo=LOCAL_ZONE).isoformat()
