"""Writing instances into the index (imaging/schema.py), and reading them back for retrieval.

``record`` is the one place that decides whether an instance fits what is already indexed:
the study's patient data must agree (PS3.3 C.7.1.1 — a study belongs to one patient), a
series belongs to one study and an instance to one series (PS3.3 A.1.2). Storing an instance
that is already indexed changes nothing. On PostgreSQL the study row is locked (FOR UPDATE) so
two instances of one study serialise; on SQLite the write transaction is exclusive already.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from imaging.errors import HIERARCHY_CONFLICT, PATIENT_CONFLICT, InstanceRejected, NotFound
from imaging.parse import Patient, ParsedInstance, normalize_pn
from imaging.schema import imaging_instance, imaging_series, imaging_study


@dataclass(frozen=True)
class Recorded:
    new: bool            # False: the instance was indexed already, nothing changed
    storage_key: str


def find_instance(conn: Connection, sop_uid: str) -> Row | None:
    return conn.execute(select(imaging_instance).where(imaging_instance.c.sop_uid == sop_uid)).first()


def check(conn: Connection, inst: ParsedInstance) -> Row | None:
    """Raise ``InstanceRejected`` if ``inst`` contradicts the index; return its row if indexed."""
    study = conn.execute(select(imaging_study).where(imaging_study.c.study_uid == inst.study_uid)).first()
    if study is not None:
        _check_patient(inst, study)
    series = conn.execute(select(imaging_series.c.study_uid)
                          .where(imaging_series.c.series_uid == inst.series_uid)).first()
    if series is not None and series.study_uid != inst.study_uid:
        raise _conflict(inst, HIERARCHY_CONFLICT, f"series {inst.series_uid} belongs to study {series.study_uid}, "
                                                  f"not {inst.study_uid}")
    existing = find_instance(conn, inst.sop_uid)
    if existing is not None and existing.series_uid != inst.series_uid:
        raise _conflict(inst, HIERARCHY_CONFLICT, f"the instance is already indexed in series {existing.series_uid} "
                                                  f"of study {existing.study_uid}")
    return existing


def record(conn: Connection, inst: ParsedInstance, storage_key: str, now: int) -> Recorded:
    """Index one instance inside the caller's write transaction."""
    _insert_ignore(conn, imaging_study, _study_row(inst, now))
    _lock_study(conn, inst.study_uid)
    existing = check(conn, inst)
    if existing is not None:
        return Recorded(False, existing.storage_key)
    created_series = _insert_ignore(conn, imaging_series, _series_row(inst, now))
    conn.execute(imaging_instance.insert().values(
        sop_uid=inst.sop_uid, series_uid=inst.series_uid, study_uid=inst.study_uid, sop_class=inst.sop_class,
        transfer_syntax=inst.transfer_syntax, size=inst.size, content_hash=inst.content_hash,
        storage_key=storage_key, dicom_json=inst.dicom_json, created=now, **inst.instance))
    # Increments, not recounts: concurrent transactions on PostgreSQL each add their own.
    s, t = imaging_series, imaging_study
    conn.execute(update(s).where(s.c.series_uid == inst.series_uid).values(num_instances=s.c.num_instances + 1))
    conn.execute(update(t).where(t.c.study_uid == inst.study_uid).values(
        num_instances=t.c.num_instances + 1, num_series=t.c.num_series + (1 if created_series else 0),
        revision=t.c.revision + 1, updated=now))
    return Recorded(True, storage_key)


def key_in_use(conn: Connection, storage_key: str) -> bool:
    return conn.execute(select(imaging_instance.c.sop_uid)
                        .where(imaging_instance.c.storage_key == storage_key).limit(1)).first() is not None


# --- reads for retrieval -------------------------------------------------------------------
def study(conn: Connection, study_uid: str) -> Row:
    row = conn.execute(select(imaging_study).where(imaging_study.c.study_uid == study_uid)).first()
    if row is None:
        raise NotFound(f"study {study_uid} is not in the index")
    return row


def study_for_update(s, study_uid: str) -> Row | None:  # noqa: ANN001 - a repository Session
    """The study row, locked until the unit of work ends (SQLite's write transaction already is)."""
    q = select(imaging_study).where(imaging_study.c.study_uid == study_uid)
    return s.conn.execute(q if s.sqlite else q.with_for_update()).first()


def series_of(conn: Connection, study_uid: str) -> list[Row]:
    s = imaging_series
    return list(conn.execute(select(s).where(s.c.study_uid == study_uid)
                             .order_by(s.c.series_number, s.c.series_uid)))


def instances(conn: Connection, study_uid: str, series_uid: str | None = None,
              sop_uid: str | None = None) -> list[Row]:
    """Instances of a study (optionally one series or one instance), in a stable order."""
    i = imaging_instance
    q = select(i).where(i.c.study_uid == study_uid)
    if series_uid is not None:
        q = q.where(i.c.series_uid == series_uid)
    if sop_uid is not None:
        q = q.where(i.c.sop_uid == sop_uid)
    rows = list(conn.execute(q.order_by(i.c.series_uid, i.c.instance_number, i.c.sop_uid)))
    if not rows:
        what = f"instance {sop_uid}" if sop_uid else f"series {series_uid}" if series_uid else f"study {study_uid}"
        raise NotFound(f"{what} is not in the index" + (f" under study {study_uid}" if sop_uid or series_uid else ""))
    return rows


def instance_summaries(conn: Connection, study_uid: str) -> list[Row]:
    """What the FHIR ImagingStudy lists of each instance — without the stored headers, which a
    large study would otherwise pull into memory at every link."""
    i = imaging_instance
    return list(conn.execute(select(i.c.sop_uid, i.c.series_uid, i.c.sop_class, i.c.instance_number)
                             .where(i.c.study_uid == study_uid)
                             .order_by(i.c.series_uid, i.c.instance_number, i.c.sop_uid)))


def first_header(conn: Connection, study_uid: str) -> bytes:
    i = imaging_instance
    return conn.execute(select(i.c.dicom_json).where(i.c.study_uid == study_uid)
                        .order_by(i.c.series_uid, i.c.instance_number, i.c.sop_uid).limit(1)).scalar() or b"{}"


# --- helpers -------------------------------------------------------------------------------
def _check_patient(inst: ParsedInstance, study: Row) -> None:
    """The incoming patient data must agree with what the study was indexed with."""
    p: Patient = inst.patient
    differences = []
    if p.patient_id != study.patient_id:
        differences.append(f"PatientID {p.patient_id!r} (indexed: {study.patient_id!r})")
    if p.issuer != study.issuer:
        differences.append(f"IssuerOfPatientID {p.issuer!r} (indexed: {study.issuer!r})")
    if p.name and study.patient_name and normalize_pn(p.name) != study.patient_name_norm:
        differences.append(f"PatientName {p.name!r} (indexed: {study.patient_name!r})")
    if p.birth_date and study.birth_date and p.birth_date != study.birth_date:
        differences.append(f"PatientBirthDate {p.birth_date} (indexed: {study.birth_date})")
    if p.sex and study.sex and p.sex != study.sex:
        differences.append(f"PatientSex {p.sex} (indexed: {study.sex})")
    if differences:
        raise _conflict(inst, PATIENT_CONFLICT, f"study {inst.study_uid} is indexed for another patient: "
                                                + "; ".join(differences))


def _conflict(inst: ParsedInstance, reason: int, message: str) -> InstanceRejected:
    return InstanceRejected(inst.label, reason, message, sop_class=inst.sop_class, sop_uid=inst.sop_uid)


def _study_row(inst: ParsedInstance, now: int) -> dict:
    p = inst.patient
    return {"study_uid": inst.study_uid, "patient_id": p.patient_id[:64], "issuer": p.issuer[:64],
            "patient_name": p.name[:324], "patient_name_norm": p.name_norm[:324], "birth_date": p.birth_date,
            "sex": p.sex[:16], **inst.study, "num_series": 0, "num_instances": 0, "link_state": "pending",
            "link_note": "", "revision": 0, "synced_revision": 0, "created": now, "updated": now}


def _series_row(inst: ParsedInstance, now: int) -> dict:
    return {"series_uid": inst.series_uid, "study_uid": inst.study_uid, **inst.series, "num_instances": 0,
            "created": now}


def _insert_ignore(conn: Connection, table, values: dict) -> bool:  # noqa: ANN001
    """INSERT ... ON CONFLICT DO NOTHING on either engine; True if the row was new."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    key = table.primary_key.columns.values()[0]
    # RETURNING, not rowcount: psycopg 3 through SQLAlchemy reports -1 for this statement.
    return conn.execute(insert(table).values(**values).on_conflict_do_nothing().returning(key)).first() is not None


def _lock_study(conn: Connection, study_uid: str) -> None:
    if conn.dialect.name != "sqlite":
        conn.execute(select(imaging_study.c.study_uid).where(imaging_study.c.study_uid == study_uid).with_for_update())
