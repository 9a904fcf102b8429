"""The imaging index: our own catalogue of patients' studies, series and instances.

Defined on the FHIR core's ``metadata`` so one Alembic history creates everything
(``migrations/versions/0002_imaging_index.py``).

Why this shape:
- The DICOM information model (PS3.3 A.1.2, patient/study/series/instance) becomes three tables;
  the patient-level attributes live on the study row because they are what a study carried
  when it arrived, and what every later instance of that study must agree with.
- Searches (QIDO-RS) are answered from these tables only, never from a storage backend, so the
  backend (embedded store or Orthanc) can be swapped without changing a single answer.
- ``storage_key`` is whatever the backend returned for the stored bytes (a SHA-256 for the
  embedded store, an Orthanc instance id). The full header is not kept here: it is built from the
  stored bytes at the first metadata request and cached outside the database (imaging/metadata.py),
  which keeps an instance's row and index entries under 1 KB.
- ``revision``/``synced_revision`` let the FHIR ImagingStudy be rebuilt after the index changed
  (the study is out of step while they differ), independently of the instance transaction.
- Names are also kept normalised (lower case, accents removed) because QIDO PatientName matching
  is case-insensitive here and SQLite's LIKE/lower() only folds ASCII.
"""
from __future__ import annotations

from sqlalchemy import BigInteger, Column, ForeignKey, Index, Integer, String, Table, Text

from ehr_core.storage.schema import ID, metadata

UID = 64        # PS3.5 9.1: a UID is at most 64 characters
LO = 64         # PS3.5 6.2 long string
PN = 324        # three component groups of 64 characters plus delimiters
SH = 16         # short string
CS = 16         # code string
DA = 8          # YYYYMMDD

imaging_study = Table(
    "imaging_study", metadata,
    Column("study_uid", String(UID), primary_key=True),
    Column("patient_id", String(LO), nullable=False, default=""),
    Column("issuer", String(LO), nullable=False, default=""),
    Column("patient_name", String(PN), nullable=False, default=""),
    Column("patient_name_norm", String(PN), nullable=False, default=""),
    Column("birth_date", String(DA), nullable=False, default=""),
    Column("sex", String(CS), nullable=False, default=""),
    Column("study_date", String(DA), nullable=False, default=""),
    Column("study_time", String(SH), nullable=False, default=""),
    Column("accession", String(SH), nullable=False, default=""),
    Column("study_id", String(SH), nullable=False, default=""),
    Column("description", String(LO), nullable=False, default=""),
    Column("referring_physician", String(PN), nullable=False, default=""),
    Column("tz_offset", String(SH), nullable=False, default=""),   # Timezone Offset From UTC (0008,0201)
    Column("num_series", Integer, nullable=False, default=0),
    Column("num_instances", Integer, nullable=False, default=0),
    # Linking to the national record (imaging/linking.py).
    Column("link_state", String(16), nullable=False, default="pending"),   # pending|linked|unmatched
    Column("link_note", Text, nullable=False, default=""),
    Column("fhir_patient", String(ID)),          # Patient id on the card, once matched
    Column("fhir_study", String(ID)),            # the ImagingStudy id
    # The organisation whose system first stored into the study (STOW-RS client, or the client a
    # C-STORE calling AE title is registered for; imaging/ingest.py Submitter), None for imports.
    # Also recorded as the ImagingStudy's origin (rule 21). ``submitter`` says who, for people.
    Column("submitted_by", String(ID)),
    Column("submitter", String(256), nullable=False, default=""),
    Column("revision", Integer, nullable=False, default=0),
    Column("synced_revision", Integer, nullable=False, default=0),
    Column("created", BigInteger, nullable=False),
    Column("updated", BigInteger, nullable=False),
    Index("ix_imaging_study_patient", "patient_id", "issuer"),
    Index("ix_imaging_study_name", "patient_name_norm"),
    Index("ix_imaging_study_date", "study_date"),
    Index("ix_imaging_study_accession", "accession"),
    Index("ix_imaging_study_link", "link_state"),
    Index("ix_imaging_study_fhir_patient", "fhir_patient"),
)

imaging_series = Table(
    "imaging_series", metadata,
    Column("series_uid", String(UID), primary_key=True),
    Column("study_uid", String(UID), ForeignKey("imaging_study.study_uid"), nullable=False),
    Column("modality", String(CS), nullable=False, default=""),
    Column("series_number", Integer),
    Column("description", String(LO), nullable=False, default=""),
    Column("body_part", String(CS), nullable=False, default=""),
    Column("series_date", String(DA), nullable=False, default=""),
    Column("num_instances", Integer, nullable=False, default=0),
    Column("created", BigInteger, nullable=False),
    Index("ix_imaging_series_study", "study_uid"),
    Index("ix_imaging_series_modality", "modality"),
)

imaging_instance = Table(
    "imaging_instance", metadata,
    Column("sop_uid", String(UID), primary_key=True),
    Column("series_uid", String(UID), ForeignKey("imaging_series.series_uid"), nullable=False),
    Column("study_uid", String(UID), nullable=False),
    Column("sop_class", String(UID), nullable=False),
    Column("instance_number", Integer),
    Column("transfer_syntax", String(UID), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("frames", Integer, nullable=False, default=1),
    Column("rows", Integer),
    Column("columns", Integer),
    Column("content_hash", String(64), nullable=False),      # SHA-256 of the stored bytes
    Column("storage_key", String(128), nullable=False),      # what the backend calls them
    Column("created", BigInteger, nullable=False),
    Index("ix_imaging_instance_series", "series_uid"),
    Index("ix_imaging_instance_study", "study_uid"),
    Index("ix_imaging_instance_key", "storage_key"),
)

TABLES = (imaging_study, imaging_series, imaging_instance)
