"""The C-STORE receiver, driven by pynetdicom as the sending modality (SCU): known senders only,
attributed to the organisation their AE title is registered for."""
from __future__ import annotations

import time
from dataclasses import replace

from pydicom.uid import ExplicitVRLittleEndian, JPEG2000, generate_uid
from pynetdicom import AE
from sqlalchemy import select

from imaging.archive import Archive
from imaging.scp import StorageReceiver
from imaging.schema import imaging_study
from tests.imaging.dicom_files import ANNA, CT, NM_J2K, add_patient, variant
from tests.utils.auth import Client


def _receiver(archive, **settings) -> StorageReceiver:  # noqa: ANN001, ANN003
    configured = Archive(archive.service, replace(archive.settings, **settings), archive.backend)
    return StorageReceiver(configured, host="127.0.0.1", port=0, ae_title="EVKTEST").start()


def _send(receiver: StorageReceiver, calling: str, datasets: list) -> list[int] | None:  # noqa: ANN001
    ae = AE(ae_title=calling)
    ae.add_requested_context(datasets[0].SOPClassUID, ExplicitVRLittleEndian)
    assoc = ae.associate("127.0.0.1", receiver.port, ae_title="EVKTEST")
    if not assoc.is_established:
        return None
    statuses = [assoc.send_c_store(ds).Status for ds in datasets]
    assoc.release()
    return statuses


def test_c_store_ingests_links_and_refuses(archive, handler):
    patient = add_patient(handler, ANNA, "Berzina")
    sender = Client(archive.service, "40003000009", "hospital", "Modality Hospital")
    receiver = _receiver(archive, dicom_senders={"MODALITY": sender.id})
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
    assert row.submitted_by is not None and row.submitter == (
        f"C-STORE from AE MODALITY (client {sender.id} of Organization/{row.submitted_by})")


def test_unknown_sender_is_rejected_unless_open(local_archive):
    ds = variant(CT, fresh=True)
    receiver = _receiver(local_archive, dicom_senders={})
    try:
        assert _send(receiver, "STRANGER", [ds]) is None         # A-ASSOCIATE-RJ: calling AE not recognised
    finally:
        receiver.stop()
    with local_archive.reading() as conn:
        assert conn.execute(select(imaging_study)).first() is None
    receiver = _receiver(local_archive, dicom_senders={}, dicom_open=True)
    try:
        assert _send(receiver, "STRANGER", [ds]) == [0x0000]
    finally:
        receiver.stop()
    row = _linked(local_archive, ds.StudyInstanceUID)
    assert row.submitted_by is None and row.submitter == "C-STORE from unregistered AE STRANGER"


def test_sender_whose_client_is_not_a_hospital_is_refused(local_archive):
    register = Client(local_archive.service, "90000000009", "register", "Register")
    receiver = _receiver(local_archive, dicom_senders={"REGISTER": register.id})
    try:
        assert _send(receiver, "REGISTER", [variant(CT, fresh=True)]) == [0x0124]   # Refused: Not Authorized
    finally:
        receiver.stop()


def _linked(archive, study: str, timeout: float = 15.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while True:
        with archive.reading() as conn:
            row = conn.execute(select(imaging_study).where(imaging_study.c.study_uid == study)).first()
        if row.link_state != "pending" or time.monotonic() > deadline:
            return row
        time.sleep(0.05)
