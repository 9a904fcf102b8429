"""Parsing received bytes: every way an instance can be unreadable is a clear, named refusal."""
from __future__ import annotations

import orjson
import pytest

from imaging.errors import CANNOT_UNDERSTAND, MISSING_UID, InstanceRejected
from imaging.metadata import dicom_json
from imaging.parse import parse_instance
from tests.imaging.dicom_files import CT, CR_J2K, RTSTRUCT_NO_META, SR, US_JPEG_MULTIFRAME, encode, read


def test_reads_uids_levels_and_header():
    p = parse_instance(CT.read_bytes(), "ct")
    ds = read(CT)
    assert (p.study_uid, p.series_uid, p.sop_uid) == (ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID)
    assert p.patient.patient_id == "1CT1" and p.patient.name_norm == "compressedsamples^ct1"
    assert p.series["modality"] == "CT" and p.study["study_date"] == "20040119"
    assert p.instance == {"instance_number": 1, "frames": 1, "rows": 128, "columns": 128}
    assert p.study["tz_offset"] == "-0500"          # Timezone Offset From UTC, kept for ImagingStudy.started
    header = orjson.loads(dicom_json(ds))
    assert header["7FE00010"] == {"vr": "OW", "BulkDataURI": "bulk/7FE00010"}
    assert header["00100020"]["Value"] == ["1CT1"]
    assert p.size == len(CT.read_bytes()) and len(p.content_hash) == 64


def test_multiframe_and_non_image():
    assert parse_instance(US_JPEG_MULTIFRAME.read_bytes(), "us").instance["frames"] == 30
    sr = parse_instance(SR.read_bytes(), "sr")
    assert sr.instance["rows"] is None and sr.series["modality"] == "SR"


@pytest.mark.parametrize("data, why", [
    (b"", "not a readable DICOM file"),
    (b"this is a text file, not DICOM" * 10, "not a readable DICOM file"),
    (RTSTRUCT_NO_META.read_bytes(), "DICM"),                       # no PS3.10 preamble/meta
    (CT.read_bytes()[:20000], "truncated"),                        # native pixel data cut short
    (CT.read_bytes()[:6000], "truncated"),                         # cut inside an element parsing skips
    (CR_J2K.read_bytes()[:-1000], "truncated"),                    # encapsulated pixel data cut short
])
def test_unreadable_input_is_refused_by_name(data, why):
    with pytest.raises(InstanceRejected) as exc:
        parse_instance(data, "upload.dcm")
    assert exc.value.reason == CANNOT_UNDERSTAND
    assert "upload.dcm" in str(exc.value) and why in str(exc.value)


@pytest.mark.parametrize("keyword", ["StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID"])
def test_missing_uid_is_refused(keyword):
    ds = read(CT)
    delattr(ds, keyword)
    with pytest.raises(InstanceRejected) as exc:
        parse_instance(encode(ds), "x.dcm")
    assert exc.value.reason == MISSING_UID and keyword in exc.value.message


def test_malformed_uid_is_refused():
    ds = read(CT)
    ds.SeriesInstanceUID = "1.2.abc"
    with pytest.raises(InstanceRejected) as exc:
        parse_instance(encode(ds), "x.dcm")
    assert exc.value.reason == MISSING_UID and ds.SOPInstanceUID in str(exc.value)


def test_plain_reader_agrees_with_pydicom_on_every_shared_file():
    """imaging/elements.py reads the plain case itself; pydicom reads the rest. Both must give the
    same values for every file in the shared test data (all syntaxes, sequences, multi-frames)."""
    from imaging import parse
    from imaging.elements import Unusual
    from tests.imaging.dicom_files import DICOM
    compared = 0
    for path in sorted(p for p in DICOM.rglob("*") if p.is_file() and p.name != "DICOMDIR"):
        data = path.read_bytes()
        try:
            syntax, plain = parse._read_plain(data)
        except Unusual:
            continue
        by_pydicom = parse._read_with_pydicom(data, "x")
        assert (syntax, _values(plain)) == (by_pydicom[0], _values(by_pydicom[1])), path
        compared += 1
    assert compared >= 50


def _values(v) -> dict:  # noqa: ANN001
    from imaging.parse import INDEXED
    numbers = ("SeriesNumber", "InstanceNumber", "NumberOfFrames", "Rows", "Columns")
    return {k: v.integer(k) if k in numbers else v.text(k) for k in INDEXED if k != "PixelData"}
