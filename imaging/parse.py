"""Parse one received instance, once, into what the pipeline needs.

Input is a DICOM PS3.10 file (preamble, "DICM", File Meta Information with the Transfer Syntax:
https://dicom.nema.org/medical/dicom/current/output/chtml/part10/chapter_7.html) — what STOW-RS
parts, C-STORE (after we add the meta header) and files on disk all are. Everything that can
be wrong with the bytes is found here and raised as ``InstanceRejected`` naming the instance.
"""
from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from io import BytesIO

import orjson
import pydicom
from pydicom.dataset import Dataset

from ehr_core.search.normalize import normalize_string
from imaging.errors import CANNOT_UNDERSTAND, MISSING_UID, InstanceRejected

# PS3.5 9.1: digits and dots, at most 64 characters, no empty component.
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# Value representations that hold bulk data (PS3.18 8.6.1.2: replaced by a BulkDataURI).
BULK_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}
BULK_THRESHOLD = 1024
UTF8 = "ISO_IR 192"


@dataclass(frozen=True)
class Patient:
    """Patient-level attributes (PS3.3 C.7.1.1) as an instance carries them."""
    patient_id: str
    issuer: str
    name: str
    birth_date: str
    sex: str

    @property
    def name_norm(self) -> str:
        return normalize_pn(self.name)


@dataclass(frozen=True)
class ParsedInstance:
    data: bytes
    content_hash: str
    label: str
    transfer_syntax: str
    sop_class: str
    sop_uid: str
    series_uid: str
    study_uid: str
    patient: Patient
    study: dict          # imaging_study columns other than the patient's
    series: dict         # imaging_series columns
    instance: dict       # imaging_instance columns from the header
    dicom_json: bytes    # the header as DICOM JSON (PS3.18 F.2), bulk data as relative URIs

    @property
    def size(self) -> int:
        return len(self.data)


def normalize_pn(name: str) -> str:
    """The alphabetic component group (PS3.5 6.2.1), lower case and without accents."""
    return normalize_string(name.split("=", 1)[0])


def parse_instance(data: bytes, label: str) -> ParsedInstance:
    """Parse PS3.10 bytes; ``label`` names the instance in errors until its UID is known."""
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(BytesIO(data))
        transfer_syntax = str(ds.file_meta.get("TransferSyntaxUID") or "")
        _check_complete(ds, seen)
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for bad input
        raise InstanceRejected(label, CANNOT_UNDERSTAND, f"not a readable DICOM file ({_why(exc)})") from None
    if not transfer_syntax:
        raise InstanceRejected(label, CANNOT_UNDERSTAND, "the file meta information has no Transfer Syntax UID")
    uids = {name: _text(ds, name) for name in ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID",
                                               "StudyInstanceUID")}
    sop_uid = uids["SOPInstanceUID"]
    if sop_uid:
        label = f"{label} (SOP Instance {sop_uid})" if sop_uid not in label else label
    for name, value in uids.items():
        if not value:
            raise InstanceRejected(label, MISSING_UID, f"{name} is missing", sop_uid=sop_uid,
                                   sop_class=uids["SOPClassUID"])
        if len(value) > 64 or not _UID.match(value):
            raise InstanceRejected(label, MISSING_UID, f"{name} {value!r} is not a valid UID", sop_uid=sop_uid,
                                   sop_class=uids["SOPClassUID"])
    try:
        header = dicom_json(ds)
        frames = _int(ds, "NumberOfFrames") or 1
    except Exception as exc:  # noqa: BLE001
        raise InstanceRejected(label, CANNOT_UNDERSTAND, f"the data set cannot be read ({_why(exc)})",
                               sop_uid=sop_uid, sop_class=uids["SOPClassUID"]) from None
    return ParsedInstance(
        data=data, content_hash=hashlib.sha256(data).hexdigest(), label=label,
        transfer_syntax=transfer_syntax, sop_class=uids["SOPClassUID"], sop_uid=sop_uid,
        series_uid=uids["SeriesInstanceUID"], study_uid=uids["StudyInstanceUID"],
        patient=Patient(_text(ds, "PatientID"), _text(ds, "IssuerOfPatientID"), _text(ds, "PatientName"),
                        _date(ds, "PatientBirthDate"), _text(ds, "PatientSex").upper()),
        study={"study_date": _date(ds, "StudyDate"), "study_time": _text(ds, "StudyTime")[:16],
               "accession": _text(ds, "AccessionNumber")[:16], "study_id": _text(ds, "StudyID")[:16],
               "description": _text(ds, "StudyDescription")[:64],
               "referring_physician": _text(ds, "ReferringPhysicianName")[:324]},
        series={"modality": _text(ds, "Modality")[:16], "series_number": _int(ds, "SeriesNumber"),
                "description": _text(ds, "SeriesDescription")[:64], "body_part": _text(ds, "BodyPartExamined")[:16],
                "series_date": _date(ds, "SeriesDate")},
        instance={"instance_number": _int(ds, "InstanceNumber"), "frames": frames,
                  "rows": _int(ds, "Rows"), "columns": _int(ds, "Columns")},
        dicom_json=header,
    )


def dicom_json(ds: Dataset) -> bytes:
    """The data set as DICOM JSON (PS3.18 F.2) with top-level bulk data as ``bulk/<tag>`` URIs.

    The URIs are relative to the instance's WADO-RS URL and made absolute when served, so the
    stored header does not depend on the public base URL. Bulk data nested in sequences (icons)
    stays inline, since a relative URI could not say which item it came from.
    """
    out: dict[str, dict] = {}
    for elem in ds:
        tag = f"{int(elem.tag):08X}"
        if elem.VR in BULK_VRS and elem.value is not None and len(elem.value) > BULK_THRESHOLD:
            out[tag] = {"vr": elem.VR, "BulkDataURI": f"bulk/{tag}"}
        else:
            out[tag] = elem.to_json_dict(None, 2**62)
    if "00080005" in out:   # JSON text is Unicode whatever the file used (PS3.18 F.2.1)
        out["00080005"] = {"vr": "CS", "Value": [UTF8]}
    return orjson.dumps(out)


def _check_complete(ds: Dataset, seen: list[warnings.WarningMessage]) -> None:
    """Refuse a truncated file: pydicom keeps what it could read and only warns."""
    for w in seen:
        if "end of file" in str(w.message).lower() or "eof" in str(w.message).lower():
            raise ValueError(f"the file is truncated: {w.message}")
    for tag in ds.keys():
        raw = ds.get_item(tag)
        length, value = getattr(raw, "length", None), getattr(raw, "value", None)
        if isinstance(value, bytes) and length not in (None, 0xFFFFFFFF) and len(value) < length:
            raise ValueError(f"the file is truncated: element {tag} has {len(value)} of {length} bytes")


def _why(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _text(ds: Dataset, keyword: str) -> str:
    value = ds.get(keyword)
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _date(ds: Dataset, keyword: str) -> str:
    """YYYYMMDD, or "" if absent or malformed (ACR-NEMA "YYYY.MM.DD" is accepted)."""
    raw = _text(ds, keyword).replace(".", "")
    return raw if re.fullmatch(r"[0-9]{8}", raw) else ""


def _int(ds: Dataset, keyword: str) -> int | None:
    value = ds.get(keyword)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
