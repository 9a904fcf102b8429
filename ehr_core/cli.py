"""The ``evk`` command line: serve, db upgrade, load, reindex."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click


@click.group()
def main() -> None:
    """EVK national e-health record service."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int)
def serve(host: str, port: int, workers: int) -> None:
    """Bring the schema up to date, load demo data on first start, and serve HTTP."""
    import uvicorn

    from ehr_core.service import Service
    from ehr_core.storage.migrate import upgrade

    # The audit writer gets a process of its own when serving (workers inherit the setting).
    os.environ.setdefault("EVK_AUDIT_PROCESS", "1")
    service = Service.from_settings()
    upgrade(service.engine)
    if service.settings.demo_data:
        from ehr_core.demo import load_demo_data
        load_demo_data(service)
    # The DICOM C-STORE receiver runs beside HTTP, in this process only (EVK_DICOM_PORT set).
    from imaging.archive import Archive
    from imaging.scp import start_configured
    start_configured(Archive.from_service(service))
    options = {"host": host, "port": port, "log_level": "info", "access_log": service.settings.access_log}
    if workers > 1:
        uvicorn.run("ehr_core.asgi:app", workers=workers, **options)
    else:
        from ehr_core.api import create_app
        from ehr_core.storage.checkpoint import start_checkpointer
        from ehr_core import heap
        start_checkpointer(service.engine)
        app = create_app(service)
        heap.settle(service)
        uvicorn.run(app, **options)


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Apply Alembic migrations to EVK_DATABASE_URL."""
    from ehr_core.settings import load_settings
    from ehr_core.storage.engine import make_engine
    from ehr_core.storage.migrate import upgrade

    settings = load_settings()
    upgrade(make_engine(settings.database_url), revision)
    click.echo(f"schema at {revision}: {settings.database_url}")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def load(paths: tuple[Path, ...]) -> None:
    """Load files or folders of FHIR Bundles / NDJSON. Exit 1 if anything failed."""
    from tqdm import tqdm

    from ehr_core.loader import collect_files, load_file
    from ehr_core.service import Service
    from ehr_core.storage.checkpoint import start_checkpointer
    from ehr_core.storage.migrate import upgrade

    service = Service.from_settings()
    upgrade(service.engine)
    start_checkpointer(service.engine)
    files = collect_files(list(paths))
    failed = 0
    totals = [0, 0]
    for path in tqdm(files, unit="file", file=sys.stderr, disable=None):
        r = load_file(service.handler, path)
        totals[0] += r.created
        totals[1] += r.updated
        status = "ok" if r.ok else f"{len(r.errors)} error(s)"
        tqdm.write(f"{path}: {r.created} created, {r.updated} updated or matched, {status}")
        for e in r.errors[:20]:
            tqdm.write(f"    {e}")
        failed += not r.ok
    from ehr_core.storage.engine import analyze
    analyze(service.engine)
    click.echo(f"{len(files)} files, {totals[0]} created, {totals[1]} updated or matched, {failed} failed")
    sys.exit(1 if failed else 0)


@main.command()
@click.option("--batch", default=500, show_default=True)
def reindex(batch: int) -> None:
    """Re-extract search index rows for every resource (resumable)."""
    from ehr_core.search.reindex import reindex as run
    from ehr_core.settings import load_settings
    from ehr_core.storage.engine import make_engine

    engine = make_engine(load_settings().database_url)
    run(engine, batch=batch, progress=lambda done, rt: click.echo(f"{done} resources reindexed ({rt})", err=True))


@main.group()
def audit() -> None:
    """The audit trail."""


@audit.command("project")
def audit_project() -> None:
    """Store every journalled access as its AuditEvent now (evk serve does it when idle)."""
    from ehr_core.audit import journal
    from ehr_core.settings import load_settings
    from ehr_core.storage.engine import make_engine
    from ehr_core.storage.repository import Repository

    repo = Repository(make_engine(load_settings().database_url))
    total = 0
    while (n := journal.project(repo, limit=journal.CHUNK)):
        total += n
        click.echo(f"{total} AuditEvents projected", err=True)
    click.echo(f"{total} AuditEvents projected; the journal is empty")


from ehr_core.auth.cli import clients, register  # noqa: E402  (identity and register commands)

main.add_command(clients)
main.add_command(register)

from imaging.cli import imaging  # noqa: E402  (evk imaging import|receive|relink)

main.add_command(imaging)


if __name__ == "__main__":
    main()
