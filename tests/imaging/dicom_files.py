"""Test DICOM data from ../shared/testdata/dicom (pydicom's and pydicom-data's test files, MIT;
see that folder's PROVENANCE.md), read in place — nothing is copied into tests/.

Tests that need linking rewrite the patient identifiers in memory to valid personal codes;
tests that must not meet earlier data (the Orthanc backend is shared by a test session) give
instances fresh UIDs (``copy.deepcopy`` first: ``Dataset.copy`` is shallow).
"""
from __future__ import annotations

import copy
from io import BytesIO
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from imaging.ingest import Submitter
from tests.utils.fhir import SHARED, call

DICOM = SHARED / "dicom"
DICOMDIR = DICOM / "dicomdir-series" / "DICOMDIR"
CT = DICOM / "ct" / "CT_small.dcm"
MR = DICOM / "mr" / "MR_small.dcm"
CR_J2K = DICOM / "cr" / "RG1_J2KI.dcm"
NM_JPEG_LOSSLESS = DICOM / "nm" / "JPEG-LL.dcm"
NM_J2K = DICOM / "nm" / "JPEG2000.dcm"
US_JPEG_MULTIFRAME = DICOM / "us" / "examples_ybr_color.dcm"
US_PALETTE = DICOM / "us" / "examples_palette.dcm"
CT_MULTIFRAME = DICOM / "ct-multiframe" / "eCT_Supplemental.dcm"
SEG = DICOM / "seg" / "liver.dcm"
SR = DICOM / "sr" / "test-SR.dcm"
RTSTRUCT_NO_META = DICOM / "rt" / "rtstruct.dcm"

TESTS = Submitter("tests (trusted ingest, no organisation)")
PERSONAL_CODE_SYSTEM = "https://evk.lv/fhir/sid/personas-kods"
PETER = "161175-19997"          # legacy code, born 16.11.1975
ANNA = "32867300679"            # new-format code


def read(path: Path) -> Dataset:
    return pydicom.dcmread(path)


def encode(ds: Dataset) -> bytes:
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def dicomdir_instances() -> list[Path]:
    return sorted(p for p in DICOMDIR.parent.rglob("*") if p.is_file() and p.name != "DICOMDIR")


def variant(path_or_ds, *, patient_id: str | None = None, name: str | None = None, birth: str | None = None,
            sex: str | None = None, fresh: bool = False, study: str | None = None, series: str | None = None,
            accession: str | None = None) -> Dataset:
    """A copy with patient data and/or UIDs replaced."""
    ds = copy.deepcopy(path_or_ds if isinstance(path_or_ds, Dataset) else read(path_or_ds))
    if patient_id is not None:
        ds.PatientID = patient_id
    if name is not None:
        if not name.isascii():
            ds.SpecificCharacterSet = "ISO_IR 192"       # UTF-8, so Latvian letters survive
        ds.PatientName = name
    if birth is not None:
        ds.PatientBirthDate = birth
    if sex is not None:
        ds.PatientSex = sex
    if accession is not None:
        ds.AccessionNumber = accession
    if fresh:
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.SeriesInstanceUID = series or generate_uid()
        ds.StudyInstanceUID = study or generate_uid()
    else:
        if study:
            ds.StudyInstanceUID = study
        if series:
            ds.SeriesInstanceUID = series
    return ds


def add_patient(handler, code: str, family: str, given: str = "", birth: str | None = None) -> str:  # noqa: ANN001
    body = {"resourceType": "Patient", "identifier": [{"system": PERSONAL_CODE_SYSTEM, "value": code}],
            "name": [{"family": family, **({"given": [given]} if given else {})}]}
    if birth:
        body["birthDate"] = birth
    resp = call(handler, "POST", "Patient", body)
    assert resp.status == 201, resp.body
    return resp.body["id"]


def dicomdir_for_peter() -> list[tuple[bytes, str]]:
    """The DICOMDIR's 31 instances (2 patients, 6 studies, 13 series), Doe^Peter's carrying PETER's code."""
    out = []
    for path in dicomdir_instances():
        ds = read(path)
        if ds.PatientID == "98890234":
            ds.PatientID = PETER
        out.append((encode(ds), str(path)))
    return out
