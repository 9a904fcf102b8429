"""The C-STORE receiver, driven by pynetdicom as the sending modality (SCU)."""
from __future__ import annotations

import time

from pydicom.uid import ExplicitVRLittleEndian, JPEG2000, generate_uid
from pynetdicom import AE
from sqlalchemy import select

from imaging.scp import StorageReceiver
from imaging.schema import imaging_study
from tests.imaging.dicom_files import ANNA, CT, NM_J2K, add_patient, variant


def test_c_store_ingests_links_and_refuses(archive, handler):
    patient = add_patient(handler, ANNA, "Berzina")
    receiver = StorageReceiver(archive, host="127.0.0.1", port=0, ae_title="EVKTEST").start()
    try:
        study = generate_uid()
        good = [variant(CT, patient_id=ANNA, name="Berzina^Anna", fresh=True, study=study) for _ in range(3)]
        j2k = variant(NM_J2K, patient_id=ANNA, name="Berzina^Anna", fresh=True, study=study, birth="", sex="")
        clash = variant(CT, patient_id="someone-else", fresh=True, study=study)
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(good[0].SOPClassUID, ExplicitVRLittleEndian)
        ae.add_requested_context(j2k.SOPClassUID, JPEG2000)
        assoc = ae.associate("127.0.0.1", receiver.port, ae_title="EVKTEST")
        assert assoc.is_established
        statuses = [assoc.send_c_store(ds).Status for ds in [*good, j2k]]
        refused = assoc.send_c_store(clash)
        assoc.release()
        assert statuses == [0x0000] * 4
        assert refused.Status == 0xC410 and refused.ErrorComment == "patient data contradicts the indexed study"
        row = _linked(archive, study)        # linking runs when the receiver sees the connection close
    finally:
        receiver.stop()
    assert row.num_instances == 4 and row.link_state == "linked" and row.fhir_patient == patient
    assert row.synced_revision == row.revision                   # linked once, when the association ended


def _linked(archive, study: str, timeout: float = 15.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        with archive.reading() as conn:
            row = conn.execute(select(imaging_study).where(imaging_study.c.study_uid == study)).first()
        if row.link_state != "pending" or time.monotonic() > deadline:
            return row
        time.sleep(0.05)
