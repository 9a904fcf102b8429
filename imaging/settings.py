"""Imaging settings from the environment, beside the core's ``Settings``.

| variable | meaning | default |
|---|---|---|
| ``EVK_IMAGING_BACKEND`` | ``local`` (embedded store under EVK_DATA_DIR) or ``orthanc`` | ``local`` |
| ``EVK_IMAGING_STORE_DIR`` | where the embedded store keeps its files | ``$EVK_DATA_DIR/dicom`` |
| ``EVK_IMAGING_HEADER_CACHE`` | cached DICOM JSON headers (derived data, may be deleted) | beside the store: ``<store>-headers`` |
| ``EVK_ORTHANC_URL`` / ``EVK_ORTHANC_USER`` / ``EVK_ORTHANC_PASSWORD`` | Orthanc's REST API | ``http://127.0.0.1:8042`` |
| ``EVK_DICOM_PORT`` | C-STORE receiver port; unset or 0 = no receiver | unset |
| ``EVK_DICOM_AE`` | our AE title | ``EVK`` |
| ``EVK_DICOM_HOST`` | address the receiver binds | ``127.0.0.1`` |
| ``EVK_DICOM_SENDERS`` | ``AE=client-id,...``: the calling AE titles the receiver accepts, each with the registered client (``evk clients add``) whose organisation it sends for | empty |
| ``EVK_DICOM_OPEN`` | ``1``: also accept calling AE titles not in EVK_DICOM_SENDERS (stored without an organisation) | ``0`` |
| ``EVK_DICOMWEB_BASE`` | public DICOMweb base for Endpoint.address and RetrieveURL | ``$EVK_BASE_URL/dicomweb`` |
| ``EVK_DICOM_NATIONAL_ISSUERS`` | IssuerOfPatientID values that mean "the national personal code" | ``LV,<system>`` |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from ehr_core.settings import Settings

BACKENDS = ("local", "orthanc")


def _env(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def _issuers() -> frozenset[str]:
    from adapters.national.personal_code import PERSONAL_CODE_SYSTEM
    raw = _env("EVK_DICOM_NATIONAL_ISSUERS", f"LV,{PERSONAL_CODE_SYSTEM}")
    return frozenset(i.strip() for i in raw.split(",") if i.strip())


def _senders() -> dict[str, str]:
    out = {}
    for item in _env("EVK_DICOM_SENDERS").split(","):
        if item.strip():
            ae, sep, client = item.partition("=")
            if not sep or not ae.strip() or not client.strip():
                raise ValueError(f"EVK_DICOM_SENDERS: {item!r} is not AE=client-id")
            out[ae.strip()] = client.strip()
    return out


@dataclass(frozen=True)
class ImagingSettings:
    store_dir: Path
    dicomweb_base: str
    backend: str = field(default_factory=lambda: _env("EVK_IMAGING_BACKEND", "local").lower())
    orthanc_url: str = field(default_factory=lambda: _env("EVK_ORTHANC_URL", "http://127.0.0.1:8042"))
    orthanc_user: str = field(default_factory=lambda: _env("EVK_ORTHANC_USER"))
    orthanc_password: str = field(default_factory=lambda: _env("EVK_ORTHANC_PASSWORD"))
    dicom_port: int = field(default_factory=lambda: int(_env("EVK_DICOM_PORT", "0") or 0))
    dicom_ae: str = field(default_factory=lambda: _env("EVK_DICOM_AE", "EVK"))
    dicom_host: str = field(default_factory=lambda: _env("EVK_DICOM_HOST", "127.0.0.1"))
    national_issuers: frozenset[str] = field(default_factory=_issuers)
    dicom_senders: dict[str, str] = field(default_factory=_senders)
    dicom_open: bool = field(default_factory=lambda: _env("EVK_DICOM_OPEN", "0") == "1")
    header_cache_dir: Path | None = field(default_factory=lambda: Path(p).resolve() if (
        p := _env("EVK_IMAGING_HEADER_CACHE")) else None)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ValueError(f"EVK_IMAGING_BACKEND={self.backend!r}: choose one of {', '.join(BACKENDS)}")
        if len(self.dicom_ae) > 16:
            raise ValueError(f"EVK_DICOM_AE={self.dicom_ae!r} is longer than 16 characters (PS3.5 AE)")

    @property
    def header_cache(self) -> Path:
        return self.header_cache_dir or self.store_dir.with_name(self.store_dir.name + "-headers")

    @classmethod
    def from_core(cls, core: Settings, **overrides) -> ImagingSettings:  # noqa: ANN003
        store = _env("EVK_IMAGING_STORE_DIR")
        base = _env("EVK_DICOMWEB_BASE") or core.base_url.rstrip("/") + "/dicomweb"
        made = cls(store_dir=Path(store).resolve() if store else core.data_dir / "dicom",
                   dicomweb_base=base.rstrip("/"))
        return replace(made, **overrides) if overrides else made
