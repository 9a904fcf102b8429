"""The ingest pipeline: one path for STOW-RS, C-STORE and ``evk imaging import``.

A batch (one STOW request, one C-STORE instance, one import file) goes: parse each instance once
(imaging/parse.py) → check the batch against the index (one read) → keep the bytes of the new
ones in the backend (one group fsync for the embedded store) → index them in ONE database
transaction (imaging/index.py ``record``). Then, per study touched, bring the FHIR ImagingStudy
in step once (imaging/fhir_link.py).

Failure of one instance never touches the others, and leaves nothing behind: bytes a failed
instance put into the backend are removed again unless an index row refers to them (the same
bytes may have been stored by a concurrent request that succeeded). Should the batch's
transaction fail as a whole (an unexpected database error), each instance is indexed again in a
transaction of its own, so the failure is pinned on the instance that caused it.

Every batch names its ``Submitter``: who sent it, for the study's record and the log.
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


@dataclass(frozen=True)
class Submitter:
    """Who sent instances. ``organization_id`` (a registered organisation, through its client) becomes
    the study's ``submitted_by`` and its ImagingStudy's origin (rule 21); ``who`` is for people."""
    who: str
    organization_id: str | None = None
    client_id: str | None = None


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


def ingest(archive: Archive, items: Iterable[tuple[bytes, str]], submitter: Submitter, *,
           expected_study: str | None = None, link: bool = True) -> Report:
    """Store each ``(bytes, label)``; then link the studies they belong to (unless ``link`` is off,
    as the C-STORE receiver does per instance, linking once when the association ends)."""
    report = Report(store_batch(archive, list(items), submitter, expected_study=expected_study))
    stored = report.stored
    if stored:
        log.info("%d of %d instances stored (%d new) from %s", len(stored), len(report.outcomes),
                 sum(o.new for o in stored), submitter.who)
    if link:
        from imaging.fhir_link import link_studies
        report.link_problems = link_studies(archive, {o.study_uid for o in stored})
    return report


def store_instance(archive: Archive, data: bytes, label: str, submitter: Submitter, *,
                   expected_study: str | None = None) -> Outcome:
    return store_batch(archive, [(data, label)], submitter, expected_study=expected_study)[0]


def store_batch(archive: Archive, items: list[tuple[bytes, str]], submitter: Submitter, *,
                expected_study: str | None = None) -> list[Outcome]:
    outcomes: list[Outcome | None] = [None] * len(items)
    parsed: list[tuple[int, ParsedInstance]] = []
    for n, (data, label) in enumerate(items):
        try:
            inst = parse_instance(data, label)
            if expected_study is not None and inst.study_uid != expected_study:
                raise InstanceRejected(inst.label, WRONG_STUDY, f"the instance belongs to study {inst.study_uid}, "
                                       f"not to {expected_study} named in the request", sop_class=inst.sop_class,
                                       sop_uid=inst.sop_uid)
            parsed.append((n, inst))
        except InstanceRejected as exc:
            outcomes[n] = _refused(exc)
    if parsed:
        for (n, inst), result in zip(parsed, _keep(archive, [inst for _, inst in parsed], submitter)):
            outcomes[n] = _refused(result) if isinstance(result, InstanceRejected) else Outcome(
                inst.label, True, result, inst.sop_class, inst.sop_uid, inst.study_uid, inst.series_uid)
    return outcomes  # type: ignore[return-value] - every slot is filled


def _refused(exc: InstanceRejected) -> Outcome:
    log.warning("refused %s", exc)
    return Outcome(exc.label, False, sop_class=exc.sop_class, sop_uid=exc.sop_uid, reason=exc.reason,
                   message=exc.message)


def _keep(archive: Archive, insts: list[ParsedInstance], submitter: Submitter) -> list[bool | InstanceRejected]:
    """Backend, then index. For each instance: True if new to the index, False if indexed already."""
    results: list[bool | InstanceRejected | None] = [None] * len(insts)
    with archive.reading() as conn:
        verdicts = index.check(conn, [(inst, None) for inst in insts])
    todo: list[int] = []
    for n, verdict in enumerate(verdicts):
        if isinstance(verdict, InstanceRejected):
            results[n] = verdict
        elif verdict is not None and verdict.storage_key is not None:
            results[n] = False      # indexed already: nothing to do, not even the backend
        else:
            todo.append(n)
    stored: dict[int, Stored] = {}
    for n, kept in zip(todo, archive.backend.store_many([(insts[n].data, insts[n].content_hash) for n in todo])):
        if isinstance(kept, BackendError):
            results[n] = _failure(insts[n], f"the storage backend failed: {kept}")
        else:
            stored[n] = kept
    for n, outcome in _record(archive, insts, stored, submitter).items():
        if isinstance(outcome, index.Recorded):
            results[n] = outcome.new
            if not outcome.new and outcome.storage_key != stored[n].key:
                _forget(archive, stored[n])     # indexed first by a concurrent request or earlier in the batch
        else:
            results[n] = outcome
            _forget(archive, stored[n])
    return results  # type: ignore[return-value]


def _record(archive: Archive, insts: list[ParsedInstance], stored: dict[int, Stored],
            submitter: Submitter) -> dict[int, index.Recorded | InstanceRejected]:
    """Index the stored instances in one transaction; should it fail, one transaction each."""
    order = sorted(stored)
    try:
        return dict(zip(order, _record_txn(archive, [(insts[n], stored[n].key) for n in order], submitter)))
    except Exception as exc:
        if len(order) == 1:
            log.exception("indexing %s failed", insts[order[0]].label)
            return {order[0]: _failure(insts[order[0]], f"indexing failed: {exc}")}
        log.warning("indexing a batch of %d failed (%s); indexing them one by one", len(order), exc)
    return {n: outcome for n in order for outcome in _record(archive, insts, {n: stored[n]}, submitter).values()}


def _record_txn(archive: Archive, batch: list[tuple[ParsedInstance, str]],
                submitter: Submitter) -> list[index.Recorded | InstanceRejected]:
    with archive.writing() as conn:
        outcomes = index.record(conn, batch, now_micros(), submitter.organization_id, submitter.who)
        if submitter.organization_id:
            from imaging.access import record_origins
            record_origins(conn, {inst.study_uid for (inst, _), o in zip(batch, outcomes)
                                  if isinstance(o, index.Recorded)}, submitter.organization_id, submitter.client_id)
        return outcomes


def _failure(inst: ParsedInstance, message: str) -> InstanceRejected:
    return InstanceRejected(inst.label, PROCESSING_FAILURE, message, sop_class=inst.sop_class, sop_uid=inst.sop_uid)


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
