"""``evk clients ...`` (SMART Backend Services registrations) and ``evk register load`` (the
population register's feed). Registered in ``ehr_core/cli.py``."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

REGISTER_TYPES = ("Patient", "RelatedPerson", "Organization")


@click.group()
def clients() -> None:
    """Backend service clients (SMART Backend Services)."""


@clients.command("add")
@click.option("--organization", "organization", required=True, help="institution register code")
@click.option("--jwks", "jwks_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="the client's public keys (JWKS JSON)")
@click.option("--role", type=click.Choice(["hospital", "pharmacy", "register", "contact-point"]), default="hospital",
              show_default=True)
@click.option("--name", default=None, help="organisation name, if it has to be created")
@click.option("--conformance", type=click.Choice(["strict", "claimed"]), default="strict", show_default=True,
              help="national rules for its submissions: strict = all, claimed = where a national profile is claimed")
def add(organization: str, jwks_file: Path, role: str, name: str | None, conformance: str) -> None:
    """Register a client; creates the Organization if absent and prints the new client id."""
    from ehr_core.auth.clients import add_client
    from ehr_core.service import Service
    from ehr_core.storage.migrate import upgrade

    service = Service.from_settings()
    upgrade(service.engine)
    try:
        client_id = add_client(service, organization, json.loads(jwks_file.read_text()), role, organization_name=name,
                               conformance=conformance)
    except (ValueError, json.JSONDecodeError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(client_id)


@clients.command("conformance")
@click.argument("client_id")
@click.argument("tier", type=click.Choice(["strict", "claimed"]))
def conformance(client_id: str, tier: str) -> None:
    """Change a client's conformance tier (adapters/national/submissions/tier.py)."""
    from adapters.national.submissions.tier import set_tier
    from ehr_core.service import Service
    try:
        set_tier(Service.from_settings().engine, client_id, tier)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


@clients.command("list")
def list_clients() -> None:
    """Registered clients: id, organisation code, role, active."""
    from sqlalchemy import select

    from ehr_core.access import schema
    from ehr_core.service import Service

    service = Service.from_settings()
    with service.engine.connect() as c:
        for r in c.execute(select(schema.client).order_by(schema.client.c.created)):
            click.echo(f"{r.client_id}\t{r.organization_code}\t{r.role}\t{'active' if r.active else 'disabled'}"
                       f"\t{r.conformance}")


@click.group()
def register() -> None:
    """The population register's feed."""


@register.command("load")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def register_load(paths: tuple[Path, ...]) -> None:
    """Load Patient / RelatedPerson (custody, guardianship) Bundles or NDJSON. Exit 1 on failure.

    Takes effect on the next request of anyone concerned (access-rules.md rule 4).
    """
    from ehr_core.loader import collect_files, load_file
    from ehr_core.service import Service
    from ehr_core.storage.migrate import upgrade

    service = Service.from_settings()
    upgrade(service.engine)
    failed = 0
    for path in collect_files(list(paths)):
        wrong = _not_register_data(path)
        if wrong:
            click.echo(f"{path}: not register data ({', '.join(sorted(wrong))}); skipped", err=True)
            failed += 1
            continue
        r = load_file(service.handler, path)
        click.echo(f"{path}: {r.created} created, {r.updated} updated, {'ok' if r.ok else 'errors'}")
        for e in r.errors[:20]:
            click.echo(f"    {e}", err=True)
        failed += not r.ok
    sys.exit(1 if failed else 0)


def _not_register_data(path: Path) -> set[str]:
    import orjson
    if path.suffix == ".ndjson":
        types = {orjson.loads(line).get("resourceType") for line in path.read_bytes().splitlines() if line.strip()}
    else:
        data = orjson.loads(path.read_bytes())
        entries = data.get("entry") or [] if data.get("resourceType") == "Bundle" else [{"resource": data}]
        types = {(e.get("resource") or {}).get("resourceType") for e in entries}
    return {str(t) for t in types if t not in REGISTER_TYPES}
