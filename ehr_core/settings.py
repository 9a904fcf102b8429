"""Settings from environment variables, with defaults for the embedded set-up."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _flag(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() not in ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Settings:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("EVK_DATA_DIR", "var")).resolve())
    database_url: str = ""
    base_url: str = field(default_factory=lambda: os.environ.get("EVK_BASE_URL", "http://127.0.0.1:8000"))
    demo_data: bool = field(default_factory=lambda: _flag("EVK_DEMO_DATA", True))
    max_body_bytes: int = field(default_factory=lambda: int(os.environ.get("EVK_MAX_BODY_BYTES", str(64 * 1024 * 1024))))
    default_page_size: int = 50
    max_page_size: int = 1000
    # Identity and access (ehr_core/auth, ehr_core/access). The development identity provider
    # (POST /auth/dev/token) exists only when EVK_DEV_AUTH=1; production settings never set it.
    dev_auth: bool = field(default_factory=lambda: _flag("EVK_DEV_AUTH", False))
    token_ttl: int = field(default_factory=lambda: int(os.environ.get("EVK_TOKEN_TTL", "600")))
    key_rotation_hours: int = field(default_factory=lambda: int(os.environ.get("EVK_KEY_ROTATION_HOURS", "24")))
    treating_days: int = field(default_factory=lambda: int(os.environ.get("EVK_TREATING_DAYS", "90")))
    # Audit on by default; EVK_AUDIT=0 exists to measure its cost (bench), never for service.
    audit: bool = field(default_factory=lambda: _flag("EVK_AUDIT", True))
    # Reads and refusals: wait for the audit commit before answering (see ehr_core/audit/writer.py).
    audit_sync: bool = field(default_factory=lambda: _flag("EVK_AUDIT_SYNC", False))

    def __post_init__(self) -> None:
        if not self.database_url:
            url = os.environ.get("EVK_DATABASE_URL") or f"sqlite:///{self.data_dir / 'evk.sqlite3'}"
            object.__setattr__(self, "database_url", url)

    @property
    def fhir_base(self) -> str:
        return self.base_url.rstrip("/") + "/fhir"


def load_settings() -> Settings:
    return Settings()
