"""Writing instances into the index (imaging/schema.py), and reading them back for retrieval.

``check`` is the one place that decides whether an instance fits what is already indexed, and
what the earlier instances of its batch bring: the study's patient data must agree (PS3.3
C.7.1.1 — a study belongs to one patient), a series belongs to one study and an instance to one
series (PS3.3 A.1.2). Storing an instance that is already indexed changes nothing. ``record``
writes a whole batch (a STOW request) in the caller's one transaction; on PostgreSQL the study
rows are locked (FOR UPDATE, in UID order) so batches touching a study serialise; on SQLite the
write transaction is exclusive already.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace

from sqlalchemy import Connection, Row, delete, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from imaging.errors import HIERARCHY_CONFLICT, PATIENT_CONFLICT, InstanceRejected, NotFound
from imaging.parse import Patient, ParsedInstance, normalize_pn
from imaging.schema import imaging_instance, imaging_series, imaging_study


@dataclass(frozen=True)
class Recorded:
    new: bool            # False: the instance was indexed already, nothing changed
    storage_key: str


@dataclass(frozen=True)
class Indexed:
    """Where an instance is indexed (or, within a batch, about to be)."""
    series_uid: str
    study_uid: str
    storage_key: str | None


Verdict = InstanceRejected | Indexed | None      # refused | indexed already | new


def check(conn: Connection, batch: list[tuple[ParsedInstance, str | None]],
          unsettled: frozenset[str] = frozenset()) -> list[Verdict]:
    """For each ``(instance, storage key)`` in order: refused if it contradicts the index or an
    earlier instance of the batch, where it is indexed if it is already (possibly earlier in the
    batch), None if it is new. Studies in ``unsettled`` were only just inserted by this
    transaction: the first new instance of each decides their patient data.

    Three queries for the whole batch, whatever its size."""
    t, se, i = imaging_study, imaging_series, imaging_instance
    insts = [inst for inst, _ in batch]
    study_uids = {x.study_uid for x in insts} - unsettled
    studies: dict[str, object] = {r.study_uid: r for r in conn.execute(
        select(t).where(t.c.study_uid.in_(study_uids)))} if study_uids else {}
    owners = {r.series_uid: r.study_uid for r in conn.execute(
        select(se.c.series_uid, se.c.study_uid).where(se.c.series_uid.in_({x.series_uid for x in insts})))}
    indexed = {r.sop_uid: Indexed(r.series_uid, r.study_uid, r.storage_key) for r in conn.execute(
        select(i.c.sop_uid, i.c.series_uid, i.c.study_uid, i.c.storage_key)
        .where(i.c.sop_uid.in_({x.sop_uid for x in insts})))}
    out: list[Verdict] = []
    for inst, key in batch:
        study = studies.get(inst.study_uid)
        owner = owners.get(inst.series_uid)
        existing = indexed.get(inst.sop_uid)
        try:
            if study is not None:
                _check_patient(inst, study)
            if owner is not None and owner != inst.study_uid:
                raise _conflict(inst, HIERARCHY_CONFLICT, f"series {inst.series_uid} belongs to study {owner}, "
                                                          f"not {inst.study_uid}")
            if existing is not None and existing.series_uid != inst.series_uid:
                raise _conflict(inst, HIERARCHY_CONFLICT, f"the instance is already indexed in series "
                                                          f"{existing.series_uid} of study {existing.study_uid}")
        except InstanceRejected as exc:
            out.append(exc)
            continue
        out.append(existing)
        if existing is None:        # what later instances of the batch must agree with
            studies.setdefault(inst.study_uid, SimpleNamespace(**_study_row(inst, 0)))
            owners.setdefault(inst.series_uid, inst.study_uid)
            indexed[inst.sop_uid] = Indexed(inst.series_uid, inst.study_uid, key)
    return out


def record(conn: Connection, batch: list[tuple[ParsedInstance, str]], now: int,
           submitted_by: str | None = None, submitter: str = "") -> list[Recorded | InstanceRejected]:
    """Index a batch of instances inside the caller's write transaction: one outcome each.

    The study rows are inserted (if new) and locked first, so concurrent batches touching a study
    serialise on PostgreSQL (SQLite's write transaction is exclusive already); then the batch is
    checked in one go and written with one statement per table, and each series' and study's
    counts are raised once. A study row this batch created but no instance ended up in is
    removed again: nothing of a refused instance stays.
    """
    t, se = imaging_study, imaging_series
    firsts: dict[str, ParsedInstance] = {}
    for inst, _ in batch:
        firsts.setdefault(inst.study_uid, inst)
    created = frozenset(uid for uid, inst in sorted(firsts.items())
                        if _insert_ignore(conn, t, _study_row(inst, now, submitted_by, submitter)))
    if conn.dialect.name != "sqlite":
        conn.execute(select(t.c.study_uid).where(t.c.study_uid.in_(sorted(firsts)))
                     .order_by(t.c.study_uid).with_for_update())
    verdicts = check(conn, batch, created)
    new = [(inst, key) for (inst, key), v in zip(batch, verdicts) if v is None]
    kept = {inst.study_uid for (inst, _), v in zip(batch, verdicts) if not isinstance(v, InstanceRejected)}
    for uid in created:
        first = next((inst for inst, _ in new if inst.study_uid == uid), None)
        if first is None:
            conn.execute(delete(t).where(t.c.study_uid == uid))
        elif first is not firsts[uid]:      # the instance that made the row was refused
            conn.execute(update(t).where(t.c.study_uid == uid).values(_study_row(first, now, submitted_by,
                                                                                 submitter)))
    if submitted_by:    # the first organisation to store into a study is its submitter
        conn.execute(update(t).where(t.c.study_uid.in_(kept - created), t.c.submitted_by.is_(None))
                     .values(submitted_by=submitted_by, submitter=submitter))
    if new:
        series_firsts: dict[str, ParsedInstance] = {}
        for inst, _ in new:
            series_firsts.setdefault(inst.series_uid, inst)
        new_series = Counter(inst.study_uid for uid, inst in sorted(series_firsts.items())
                             if _insert_ignore(conn, se, _series_row(inst, now)))
        conn.execute(imaging_instance.insert(), [_instance_row(inst, key, now) for inst, key in new])
        # Increments, not recounts: concurrent transactions on PostgreSQL each add their own.
        for uid, n in sorted(Counter(inst.series_uid for inst, _ in new).items()):
            conn.execute(update(se).where(se.c.series_uid == uid).values(num_instances=se.c.num_instances + n))
        for uid, n in sorted(Counter(inst.study_uid for inst, _ in new).items()):
            conn.execute(update(t).where(t.c.study_uid == uid).values(
                num_instances=t.c.num_instances + n, num_series=t.c.num_series + new_series[uid],
                revision=t.c.revision + 1, updated=now))
    return [v if isinstance(v, InstanceRejected) else Recorded(v is None, key if v is None else v.storage_key)
            for (inst, key), v in zip(batch, verdicts)]


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


def _study_row(inst: ParsedInstance, now: int, submitted_by: str | None = None, submitter: str = "") -> dict:
    p = inst.patient
    return {"study_uid": inst.study_uid, "patient_id": p.patient_id[:64], "issuer": p.issuer[:64],
            "patient_name": p.name[:324], "patient_name_norm": p.name_norm[:324], "birth_date": p.birth_date,
            "sex": p.sex[:16], **inst.study, "num_series": 0, "num_instances": 0, "link_state": "pending",
            "link_note": "", "submitted_by": submitted_by, "submitter": submitter[:256], "revision": 0,
            "synced_revision": 0, "created": now, "updated": now}


def _series_row(inst: ParsedInstance, now: int) -> dict:
    return {"series_uid": inst.series_uid, "study_uid": inst.study_uid, **inst.series, "num_instances": 0,
            "created": now}


def _instance_row(inst: ParsedInstance, storage_key: str, now: int) -> dict:
    return {"sop_uid": inst.sop_uid, "series_uid": inst.series_uid, "study_uid": inst.study_uid,
            "sop_class": inst.sop_class, "transfer_syntax": inst.transfer_syntax, "size": inst.size,
            "content_hash": inst.content_hash, "storage_key": storage_key, "created": now, **inst.instance}


def _insert_ignore(conn: Connection, table, values: dict) -> bool:  # noqa: ANN001
    """INSERT ... ON CONFLICT DO NOTHING on either engine; True if the row was new."""
    insert = sqlite_insert if conn.dialect.name == "sqlite" else pg_insert
    key = table.primary_key.columns.values()[0]
    # RETURNING, not rowcount: psycopg 3 through SQLAlchemy reports -1 for this statement.
    return conn.execute(insert(table).values(**values).on_conflict_do_nothing().returning(key)).first() is not None
