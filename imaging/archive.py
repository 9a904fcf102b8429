"""Wiring: the core ``Service`` + imaging settings + the storage backend, in one object.

Every entry point (HTTP router, C-STORE receiver, CLI) builds one ``Archive`` and passes it to
the pipeline, so they all share the same database, backend and settings.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Connection

from ehr_core.service import Service
from ehr_core.storage.engine import write_options
from imaging.backends import StorageBackend, make_backend
from imaging.metadata import HeaderCache
from imaging.settings import ImagingSettings


@dataclass
class Archive:
    service: Service
    settings: ImagingSettings
    backend: StorageBackend
    endpoint_id: str | None = None      # the DICOMweb Endpoint once published (imaging/fhir_link.py)

    @property
    def headers(self) -> HeaderCache:
        """Instance headers as DICOM JSON, built from the backend's bytes once (imaging/metadata.py)."""
        return HeaderCache(self.settings.header_cache, self.backend)

    @classmethod
    def from_service(cls, service: Service, *, settings: ImagingSettings | None = None,
                     backend: StorageBackend | None = None) -> Archive:
        settings = settings or ImagingSettings.from_core(service.settings)
        return cls(service, settings, backend or make_backend(settings))

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        with self.service.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite, so writers queue at the start)."""
        with self.service.engine.connect() as conn:
            conn = conn.execution_options(**write_options(self.service.engine))
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.backend.close()
