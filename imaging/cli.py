"""``evk imaging``: import files, folders and DICOMDIRs; run the C-STORE receiver; relink studies.

The lead registers the group in ehr_core/cli.py (``main.add_command(imaging)``).
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

IMPORT_BATCH = 50      # files per index transaction (imaging/ingest.py), bounded to keep memory small


def _archive():  # noqa: ANN202
    from ehr_core.service import Service
    from ehr_core.storage.migrate import upgrade
    from imaging.archive import Archive

    service = Service.from_settings()
    upgrade(service.engine)
    return Archive.from_service(service)


@click.group("imaging")
def imaging() -> None:
    """DICOM imaging index."""


@imaging.command("import")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def import_(paths: tuple[Path, ...]) -> None:
    """Import DICOM files, folders or DICOMDIRs. Exit 1 if any instance failed.

    Attributed to the operator running it (user@host), recorded as the studies' submitter."""
    import getpass
    import socket

    from tqdm import tqdm

    from imaging.fhir_link import link_studies
    from imaging.ingest import Submitter, store_batch
    from imaging.sources import collect

    archive = _archive()
    submitter = Submitter(f"evk imaging import by operator {getpass.getuser()}@{socket.gethostname()}")
    files = collect(paths)
    new = again = 0
    failed: list[str] = []
    studies: set[str] = set()
    with tqdm(total=len(files), unit="file", file=sys.stderr, disable=None) as progress:
        for start in range(0, len(files), IMPORT_BATCH):
            batch: list[tuple[bytes, str]] = []
            for path in files[start:start + IMPORT_BATCH]:
                try:
                    batch.append((path.read_bytes(), str(path)))
                except OSError as exc:
                    failed.append(f"{path}: cannot be read ({exc})")
                    tqdm.write(f"FAILED {failed[-1]}", file=sys.stderr)
            for outcome in store_batch(archive, batch, submitter):
                if outcome.ok:
                    studies.add(outcome.study_uid)
                    new += outcome.new
                    again += not outcome.new
                else:
                    failed.append(f"{outcome.label}: {outcome.message}")
                    tqdm.write(f"FAILED {failed[-1]}", file=sys.stderr)
            progress.update(len(files[start:start + IMPORT_BATCH]))
    problems = link_studies(archive, studies)
    states = _link_states(archive, studies)
    click.echo(f"{len(files)} files: {new} stored, {again} already indexed, {len(failed)} failed; "
               f"{len(studies)} studies: {states.get('linked', 0)} linked, "
               f"{states.get('unmatched', 0)} to reconciliation, {len(problems)} not yet linked")
    for uid, why in problems.items():
        click.echo(f"  study {uid} not yet linked: {why}", err=True)
    archive.close()
    sys.exit(1 if failed else 0)


@imaging.command("receive")
@click.option("--port", type=int, default=None, help="default: EVK_DICOM_PORT")
@click.option("--ae", "ae_title", default=None, help="default: EVK_DICOM_AE")
def receive(port: int | None, ae_title: str | None) -> None:
    """Run the C-STORE receiver in the foreground (``evk serve`` starts it when EVK_DICOM_PORT is set)."""
    import time

    from imaging.scp import StorageReceiver

    archive = _archive()
    receiver = StorageReceiver(archive, port=port, ae_title=ae_title).start()
    click.echo(f"{receiver.ae_title} listening on {receiver.address[0]}:{receiver.port}")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        receiver.stop()


@imaging.command("relink")
def relink() -> None:
    """Bring every study whose FHIR ImagingStudy is out of step back in step."""
    from imaging.fhir_link import link_pending

    problems = link_pending(_archive())
    for uid, why in problems.items():
        click.echo(f"study {uid}: {why}", err=True)
    sys.exit(1 if problems else 0)


def _link_states(archive, studies: set[str]) -> dict[str, int]:  # noqa: ANN001
    from sqlalchemy import func, select

    from imaging.schema import imaging_study as t
    if not studies:
        return {}
    with archive.reading() as conn:
        rows = conn.execute(select(t.c.link_state, func.count()).where(t.c.study_uid.in_(studies))
                            .group_by(t.c.link_state))
        return {state: n for state, n in rows}
