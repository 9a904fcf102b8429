"""Storage backends behind one interface (``base.StorageBackend``); ``make_backend`` picks one."""
from __future__ import annotations

from imaging.backends.base import StorageBackend, Stored
from imaging.settings import ImagingSettings

__all__ = ["StorageBackend", "Stored", "make_backend"]


def make_backend(settings: ImagingSettings) -> StorageBackend:
    if settings.backend == "orthanc":
        from imaging.backends.orthanc import OrthancStore
        return OrthancStore(settings.orthanc_url, settings.orthanc_user, settings.orthanc_password)
    from imaging.backends.local import LocalStore
    return LocalStore(settings.store_dir)
