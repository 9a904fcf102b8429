"""The ingest pipeline (both engines × both backends): indexing, idempotency, refusals that
leave nothing behind while the rest of the batch succeeds."""
from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from imaging.errors import HIERARCHY_CONFLICT, PATIENT_CONFLICT, WRONG_STUDY
from imaging.ingest import ingest, store_instance
from imaging.schema import imaging_instance, imaging_series, imaging_study
from tests.imaging.dicom_files import TESTS
from tests.imaging.dicom_files import (CR_J2K, CT, MR, NM_JPEG_LOSSLESS, dicomdir_instances, encode, variant)


def _counts(archive) -> tuple[int, int, int]:  # noqa: ANN001
    with archive.reading() as conn:
        return tuple(conn.execute(select(func.count()).select_from(t)).scalar()
                     for t in (imaging_study, imaging_series, imaging_instance))


def test_dicomdir_set_is_indexed_with_counts(archive):
    items = [(p.read_bytes(), str(p)) for p in dicomdir_instances()]
    report = ingest(archive, items, TESTS)
    assert not report.failed and len(report.stored) == 31
    assert _counts(archive) == (6, 13, 31)                   # 2 patients in the files
    with archive.reading() as conn:
        studies = list(conn.execute(select(imaging_study)))
        assert {s.patient_id for s in studies} == {"77654033", "98890234"}
        assert sum(s.num_instances for s in studies) == 31 and sum(s.num_series for s in studies) == 13
        series = {r.series_uid: r for r in conn.execute(select(imaging_series))}
        for uid, row in series.items():
            n = conn.execute(select(func.count()).where(imaging_instance.c.series_uid == uid)).scalar()
            assert row.num_instances == n
        inst = conn.execute(select(imaging_instance).limit(1)).first()
        assert inst.transfer_syntax == "1.2.840.10008.1.2.1" and inst.size > 0 and inst.rows == 16
    stored = archive.backend.retrieve(inst.storage_key)
    assert hashlib.sha256(stored).hexdigest() == inst.content_hash


def test_storing_again_changes_nothing(archive):
    data = encode(variant(CT, fresh=True))
    first = store_instance(archive, data, "a", TESTS)
    with archive.reading() as conn:
        before = conn.execute(select(imaging_study)).first()
    again = store_instance(archive, data, "a", TESTS)
    assert first.ok and first.new and again.ok and not again.new
    with archive.reading() as conn:
        after = conn.execute(select(imaging_study)).first()
    assert after == before and _counts(archive) == (1, 1, 1)


def test_study_with_contradicting_patient_is_refused_and_nothing_kept(archive):
    # The NEMA compressed samples share one Study/Series UID across different patients.
    study = variant(MR, fresh=True).StudyInstanceUID
    mr = variant(MR, fresh=True, study=study)
    nm = variant(NM_JPEG_LOSSLESS, fresh=True, study=study)         # PatientID 8NM1, not 4MR1
    cr = variant(CR_J2K, fresh=True)                                # an unrelated study, fine
    report = ingest(archive, [(encode(mr), "mr"), (encode(nm), "nm"), (encode(cr), "cr")], TESTS)
    assert [o.ok for o in report.outcomes] == [True, False, True]
    refused = report.outcomes[1]
    assert refused.reason == PATIENT_CONFLICT and refused.sop_uid == nm.SOPInstanceUID
    assert "PatientID '8NM1' (indexed: '4MR1')" in refused.message and nm.SOPInstanceUID in refused.label
    assert _counts(archive) == (2, 2, 2)
    assert not _backend_has(archive, encode(nm), nm.SOPInstanceUID)
    assert _backend_has(archive, encode(cr), cr.SOPInstanceUID)


def test_series_reused_under_another_study_is_refused(archive):
    first = variant(CT, fresh=True)
    clash = variant(CT, fresh=True, series=first.SeriesInstanceUID)
    report = ingest(archive, [(encode(first), "first"), (encode(clash), "clash")], TESTS)
    assert [o.ok for o in report.outcomes] == [True, False]
    assert report.outcomes[1].reason == HIERARCHY_CONFLICT
    assert _counts(archive) == (1, 1, 1)


def test_corrupt_and_foreign_input_fail_alone(local_archive):
    good = encode(variant(CT, fresh=True))
    report = ingest(local_archive, [(b"not dicom", "junk.txt"), (good[:20000], "cut.dcm"), (good, "good.dcm")], TESTS)
    assert [o.ok for o in report.outcomes] == [False, False, True]
    assert "junk.txt" in report.outcomes[0].label and "cut.dcm" in report.outcomes[1].label
    assert _counts(local_archive) == (1, 1, 1)
    assert len(list((local_archive.settings.store_dir).rglob("*"))) == 3     # 2 fan-out dirs + 1 file


def test_expected_study_is_enforced(local_archive):
    ds = variant(CT, fresh=True)
    out = store_instance(local_archive, encode(ds), "x", TESTS, expected_study="1.2.3")
    assert not out.ok and out.reason == WRONG_STUDY and ds.StudyInstanceUID in out.message


def _backend_has(archive, data: bytes, sop_uid: str) -> bool:  # noqa: ANN001
    """Whether the backend holds the instance, asked in the backend's own terms."""
    if archive.backend.name == "local":
        return archive.backend.path(hashlib.sha256(data).hexdigest()).exists()
    return bool(archive.backend.http.post("/tools/lookup", content=sop_uid).json())


def test_a_batch_is_checked_against_itself(archive):
    """One batch, one transaction: the first *accepted* instance of a new study fixes its patient data;
    an instance sent twice is stored once; a refused first instance leaves no study behind."""
    taken = variant(CT, fresh=True)                                          # series indexed under its study
    ingest(archive, [(encode(taken), "taken")], TESTS)
    study = variant(CT, fresh=True).StudyInstanceUID
    stray = variant(CT, fresh=True, study=study, series=taken.SeriesInstanceUID, patient_id="STRAY")
    first = variant(MR, fresh=True, study=study)
    again = encode(first)
    other_patient = variant(CT, fresh=True, study=study, patient_id="SOMEONE-ELSE")
    lonely = variant(CT, fresh=True, series=taken.SeriesInstanceUID)        # refused: nothing of its study kept
    report = ingest(archive, [(encode(stray), "stray"), (again, "first"), (again, "first again"),
                              (encode(other_patient), "other"), (encode(lonely), "lonely")], TESTS)
    assert [(o.ok, o.new) for o in report.outcomes] == [(False, False), (True, True), (True, False),
                                                         (False, False), (False, False)]
    assert [o.reason for o in report.failed] == [HIERARCHY_CONFLICT, PATIENT_CONFLICT, HIERARCHY_CONFLICT]
    with archive.reading() as conn:
        row = conn.execute(select(imaging_study).where(imaging_study.c.study_uid == study)).first()
        assert conn.execute(select(imaging_study).where(imaging_study.c.study_uid == lonely.StudyInstanceUID)
                            ).first() is None
    assert (row.patient_id, row.num_instances, row.num_series, row.submitter) == (first.PatientID, 1, 1, TESTS.who)
    assert _counts(archive) == (2, 2, 2)
    assert not _backend_has(archive, encode(stray), stray.SOPInstanceUID)
