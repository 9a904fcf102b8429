"""The ingest pipeline: one path for STOW-RS, C-STORE and ``evk imaging import``.

For each instance: parse once (imaging/parse.py) → check it against the index → keep the bytes
in the backend → index it in one database transaction. Then, per study touched, bring the FHIR
ImagingStudy in step (imaging/fhir_link.py).

Failure of one instance never touches the others, and leaves nothing behind: bytes a failed
instance put into the backend are removed again unless an index row refers to them (the same
bytes may have been stored by a concurrent request that succeeded).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from ehr_core.storage.records import now_micros
from imaging import index
from imaging.archive import Archive
from imaging.backends import Stored
from imaging.errors import PROCESSING_FAILURE, WRONG_STUDY, BackendError, InstanceRejected
from imaging.parse import ParsedInstance, parse_instance

log = logging.getLogger("evk.imaging.ingest")


@dataclass
class Outcome:
    """What became of one instance."""
    label: str
    ok: bool
    new: bool = False                 # False for an instance that was indexed already
    sop_class: str = ""
    sop_uid: str = ""
    study_uid: str = ""
    series_uid: str = ""
    reason: int | None = None         # Failure Reason (imaging/errors.py) when not ok
    message: str = ""


@dataclass
class Report:
    outcomes: list[Outcome] = field(default_factory=list)
    link_problems: dict[str, str] = field(default_factory=dict)   # study UID → why not in step

    @property
    def stored(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.ok]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def ingest(archive: Archive, items: Iterable[tuple[bytes, str]], *, expected_study: str | None = None,
           link: bool = True) -> Report:
    """Store each ``(bytes, label)``; then link the studies they belong to (unless ``link`` is off,
    as the C-STORE receiver does per instance, linking once when the association ends)."""
    report = Report([store_instance(archive, data, label, expected_study=expected_study) for data, label in items])
    if link:
        from imaging.fhir_link import link_studies
        report.link_problems = link_studies(archive, {o.study_uid for o in report.stored})
    return report


def store_instance(archive: Archive, data: bytes, label: str, *, expected_study: str | None = None) -> Outcome:
    try:
        inst = parse_instance(data, label)
        if expected_study is not None and inst.study_uid != expected_study:
            raise InstanceRejected(inst.label, WRONG_STUDY, f"the instance belongs to study {inst.study_uid}, "
                                   f"not to {expected_study} named in the request", sop_class=inst.sop_class,
                                   sop_uid=inst.sop_uid)
        new = _keep(archive, inst)
    except InstanceRejected as exc:
        log.warning("refused %s", exc)
        return Outcome(exc.label, False, sop_class=exc.sop_class, sop_uid=exc.sop_uid, reason=exc.reason,
                       message=exc.message)
    return Outcome(inst.label, True, new, inst.sop_class, inst.sop_uid, inst.study_uid, inst.series_uid)


def _keep(archive: Archive, inst: ParsedInstance) -> bool:
    """Backend, then index. True if the instance is new to the index."""
    with archive.reading() as conn:
        if index.check(conn, inst) is not None:
            return False            # indexed already: nothing to do, not even the backend
    try:
        stored = archive.backend.store(inst.data, inst.content_hash)
    except BackendError as exc:
        raise InstanceRejected(inst.label, PROCESSING_FAILURE, f"the storage backend failed: {exc}",
                               sop_class=inst.sop_class, sop_uid=inst.sop_uid) from None
    try:
        with archive.writing() as conn:
            recorded = index.record(conn, inst, stored.key, now_micros())
    except InstanceRejected:
        _forget(archive, stored)
        raise
    except Exception as exc:
        _forget(archive, stored)
        log.exception("indexing %s failed", inst.label)
        raise InstanceRejected(inst.label, PROCESSING_FAILURE, f"indexing failed: {exc}",
                               sop_class=inst.sop_class, sop_uid=inst.sop_uid) from None
    if not recorded.new and recorded.storage_key != stored.key:
        _forget(archive, stored)    # a concurrent request indexed the same instance first
    return recorded.new


def _forget(archive: Archive, stored: Stored) -> None:
    if not stored.created:
        return
    try:
        with archive.reading() as conn:
            if index.key_in_use(conn, stored.key):
                return
        archive.backend.delete(stored.key)
    except Exception:  # noqa: BLE001 - cleanup must not hide the original failure
        log.exception("could not remove %s from the %s backend", stored.key, archive.backend.name)
