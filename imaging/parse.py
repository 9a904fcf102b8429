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
from functools import cache
from io import BytesIO

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataset import Dataset

from ehr_core.search.normalize import normalize_string
from imaging.elements import Truncated, Unusual, read_top_level
from imaging.errors import CANNOT_UNDERSTAND, MISSING_UID, InstanceRejected

# PS3.5 9.1: digits and dots, at most 64 characters, no empty component.
_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


# What parse_instance reads (the values of every other element are skipped). PixelData is read
# by pydicom because a cut inside it is the usual way a file arrives truncated.
INDEXED = ["SpecificCharacterSet", "SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID",
           "PatientID", "IssuerOfPatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyDate",
           "StudyTime", "AccessionNumber", "StudyID", "StudyDescription", "ReferringPhysicianName",
           "TimezoneOffsetFromUTC", "Modality", "SeriesNumber", "SeriesDescription", "BodyPartExamined",
           "SeriesDate", "InstanceNumber", "NumberOfFrames", "Rows", "Columns", "PixelData"]
_INDEXED_TAGS = frozenset(tag_for_keyword(k) for k in INDEXED if k != "PixelData")
_BINARY_TAGS = frozenset(tag_for_keyword(k) for k in ("Rows", "Columns"))       # US
_PIXEL_DATA = tag_for_keyword("PixelData")


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

    @property
    def size(self) -> int:
        return len(self.data)


def normalize_pn(name: str) -> str:
    """The alphabetic component group (PS3.5 6.2.1), lower case and without accents."""
    return normalize_string(name.split("=", 1)[0])


def parse_instance(data: bytes, label: str) -> ParsedInstance:
    """Parse PS3.10 bytes; ``label`` names the instance in errors until its UID is known.

    Only the top-level values the index holds are read (``INDEXED``): by imaging/elements.py for
    the plain case, by pydicom for everything else. The DICOM JSON header is built from the
    stored bytes when metadata is first asked for (imaging/metadata.py): building it here took
    most of the ingest time.
    """
    try:
        transfer_syntax, values = _read_plain(data)
    except Truncated as exc:
        raise InstanceRejected(label, CANNOT_UNDERSTAND, f"not a readable DICOM file ({_why(exc)})") from None
    except Unusual:
        transfer_syntax, values = _read_with_pydicom(data, label)
    if not transfer_syntax:
        raise InstanceRejected(label, CANNOT_UNDERSTAND, "the file meta information has no Transfer Syntax UID")
    uids = {name: values.text(name) for name in ("SOPClassUID", "SOPInstanceUID", "SeriesInstanceUID",
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
        return _parsed(values, data, label, transfer_syntax, uids)
    except Exception as exc:  # noqa: BLE001 - a value pydicom cannot convert
        raise InstanceRejected(label, CANNOT_UNDERSTAND, f"the data set cannot be read ({_why(exc)})",
                               sop_uid=sop_uid, sop_class=uids["SOPClassUID"]) from None


class _PlainValues:
    """Values of the plain case: ASCII text (checked by ``_read_plain``), US little endian."""

    def __init__(self, raw: dict[int, bytes]):
        self.raw = raw

    def text(self, keyword: str) -> str:
        value = self.raw.get(_tag(keyword))
        return "" if value is None else _ascii(value)

    def integer(self, keyword: str) -> int | None:
        if _vr(keyword) == "IS":
            return _integer_string(self.text(keyword))
        value = self.raw.get(_tag(keyword))
        return int.from_bytes(value[:2], "little") if value and len(value) >= 2 else None


class _DatasetValues:
    """Values read by pydicom, which decodes other character sets and byte orders."""

    def __init__(self, ds: Dataset):
        self.ds = ds

    def text(self, keyword: str) -> str:
        raw = self.ds.get_item(_tag(keyword))
        if raw is None:
            return ""
        if _is_ascii(raw.value):
            return _ascii(raw.value)
        value = self.ds.get(keyword)
        if value is None:
            return ""
        if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
            return "\\".join(str(v) for v in value).strip()
        return str(value).strip()

    def integer(self, keyword: str) -> int | None:
        if _vr(keyword) == "IS":
            return _integer_string(self.text(keyword))
        value = self.ds.get(keyword)
        try:
            return None if value is None or value == "" else int(value)
        except (TypeError, ValueError):
            return None


def _read_plain(data: bytes) -> tuple[str, _PlainValues]:
    syntax, raw = read_top_level(data, _INDEXED_TAGS)
    for tag, value in raw.items():
        if tag not in _BINARY_TAGS and tag != _PIXEL_DATA and not _is_ascii(value):
            raise Unusual("a value in another character set")
    return syntax, _PlainValues(raw)


def _read_with_pydicom(data: bytes, label: str) -> tuple[str, _DatasetValues]:
    try:
        fp = BytesIO(data)
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(fp, specific_tags=INDEXED)
        transfer_syntax = str(ds.file_meta.get("TransferSyntaxUID") or "")
        _check_complete(ds, seen, fp.tell() - len(data))
    except Exception as exc:  # noqa: BLE001 - pydicom raises many kinds for bad input
        raise InstanceRejected(label, CANNOT_UNDERSTAND, f"not a readable DICOM file ({_why(exc)})") from None
    return transfer_syntax, _DatasetValues(ds)


def _parsed(v: _PlainValues | _DatasetValues, data: bytes, label: str, transfer_syntax: str,
            uids: dict[str, str]) -> ParsedInstance:
    return ParsedInstance(
        data=data, content_hash=hashlib.sha256(data).hexdigest(), label=label,
        transfer_syntax=transfer_syntax, sop_class=uids["SOPClassUID"], sop_uid=uids["SOPInstanceUID"],
        series_uid=uids["SeriesInstanceUID"], study_uid=uids["StudyInstanceUID"],
        patient=Patient(v.text("PatientID"), v.text("IssuerOfPatientID"), v.text("PatientName"),
                        _date(v.text("PatientBirthDate")), v.text("PatientSex").upper()),
        study={"study_date": _date(v.text("StudyDate")), "study_time": v.text("StudyTime")[:16],
               "accession": v.text("AccessionNumber")[:16], "study_id": v.text("StudyID")[:16],
               "description": v.text("StudyDescription")[:64],
               "referring_physician": v.text("ReferringPhysicianName")[:324],
               "tz_offset": v.text("TimezoneOffsetFromUTC")[:16]},
        series={"modality": v.text("Modality")[:16], "series_number": v.integer("SeriesNumber"),
                "description": v.text("SeriesDescription")[:64], "body_part": v.text("BodyPartExamined")[:16],
                "series_date": _date(v.text("SeriesDate"))},
        instance={"instance_number": v.integer("InstanceNumber"), "frames": v.integer("NumberOfFrames") or 1,
                  "rows": v.integer("Rows"), "columns": v.integer("Columns")},
    )


def _check_complete(ds: Dataset, seen: list[warnings.WarningMessage], overrun: int) -> None:
    """Refuse a truncated file: pydicom keeps what it could read and only warns.

    A cut inside an element that was skipped leaves the reader past the end (``overrun`` > 0);
    a cut inside one that was read leaves it short, and elements are read in file order, so
    only the last one read can be."""
    for w in seen:
        if "end of file" in str(w.message).lower() or "eof" in str(w.message).lower():
            raise ValueError(f"the file is truncated: {w.message}")
    if overrun > 0:
        raise ValueError(f"the file is truncated: {overrun} bytes are missing from its last element")
    tags = list(ds.keys())
    if tags:
        raw = ds.get_item(tags[-1])
        length, value = getattr(raw, "length", None), getattr(raw, "value", None)
        if isinstance(value, bytes) and length not in (None, 0xFFFFFFFF) and len(value) < length:
            raise ValueError(f"the file is truncated: element {tags[-1]} has {len(value)} of {length} bytes")


def _why(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


@cache
def _tag(keyword: str) -> int:
    return tag_for_keyword(keyword)


@cache
def _vr(keyword: str) -> str:
    return dictionary_VR(keyword)


def _is_ascii(value: object) -> bool:
    """Bytes that read the same in every character set a value can be in (no ISO 2022 escapes)."""
    return isinstance(value, bytes) and value.isascii() and b"\x1b" not in value


def _ascii(value: bytes) -> str:
    """A text value as one string, multiple values joined by backslashes, padding stripped."""
    return "\\".join(v.strip(" \x00") for v in value.decode("ascii").split("\\")).strip()


def _integer_string(text: str) -> int | None:
    first = text.split("\\")[0].strip()
    return int(first) if first.lstrip("+-").isdigit() else None


def _date(text: str) -> str:
    """YYYYMMDD, or "" if absent or malformed (ACR-NEMA "YYYY.MM.DD" is accepted)."""
    raw = text.replace(".", "")
    return raw if re.fullmatch(r"[0-9]{8}", raw) else ""
