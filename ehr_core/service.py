"""Wiring: settings → engine → repository → handler (with the validator, operations and the
access guard) and the token service."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from ehr_core.auth.keys import KeyStore
from ehr_core.auth.tokens import TokenService

from ehr_core.rest.handler import Handler
from ehr_core.settings import Settings, load_settings
from ehr_core.storage.engine import make_engine
from ehr_core.storage.repository import Repository


@dataclass
class Service:
    settings: Settings
    engine: Engine
    repo: Repository
    handler: Handler
    keys: KeyStore | None = None
    tokens: TokenService | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, engine: Engine | None = None) -> Service:
        settings = settings or load_settings()
        engine = engine or make_engine(settings.database_url)
        repo = Repository(engine)
        handler = Handler(repo, settings, validator=_default_validator())
        _register_operations(handler)
        from ehr_core.access.guard import Guard
        handler.guard = Guard(repo, settings)
        from ehr_core.audit.journal import Projection
        handler.before_unit_of_work.append(Projection(repo).before)   # AuditEvents from the journal
        from adapters.national.submissions import wire as wire_submissions
        wire_submissions(handler, repo)   # after the guard: its operations get access policies there
        from adapters.terminology.rest import wire as wire_terminology
        wire_terminology(handler)         # classifiers: $expand, $lookup, $validate-code (any principal)
        keys = KeyStore(engine, rotate_after=settings.key_rotation_hours * 3600)
        tokens = TokenService(keys, issuer=settings.base_url.rstrip("/"), audience=settings.fhir_base,
                              ttl=settings.token_ttl)
        return cls(settings, engine, repo, handler, keys, tokens)


def _default_validator():  # noqa: ANN202
    """Structure + the national rules (adapters/national/validator.py says which apply to every
    write and which to national submissions)."""
    from adapters.national import NationalValidator
    from adapters.terminology.service import binding_member
    return NationalValidator(member=binding_member)   # profile bindings judged by the classifiers


def _register_operations(handler: Handler) -> None:
    from ehr_core.access.self_service import register as register_access_operations
    from ehr_core.rest.operations import register_core_operations
    from adapters.national.package import publish as publish_national_package
    from adapters.national.sandbox import register as register_sandbox
    register_core_operations(handler)
    register_sandbox(handler)
    publish_national_package(handler)
    register_access_operations(handler)
