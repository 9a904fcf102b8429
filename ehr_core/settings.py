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
    # People's sign-in with OpenID Connect (the national eID gateway; ehr_core/auth/oidc.py).
    # Off unless the issuer is set. The client authenticates with a secret, or with
    # private_key_jwt when a key file is given. See docs/access.md.
    oidc_issuer: str = field(default_factory=lambda: os.environ.get("EVK_OIDC_ISSUER", "").rstrip("/"))
    oidc_client_id: str = field(default_factory=lambda: os.environ.get("EVK_OIDC_CLIENT_ID", ""))
    oidc_client_secret: str = field(default_factory=lambda: os.environ.get("EVK_OIDC_CLIENT_SECRET", ""))
    oidc_client_key_file: str = field(default_factory=lambda: os.environ.get("EVK_OIDC_CLIENT_KEY_FILE", ""))
    oidc_client_key_id: str = field(default_factory=lambda: os.environ.get("EVK_OIDC_CLIENT_KEY_ID", ""))
    oidc_token_auth: str = field(default_factory=lambda: os.environ.get("EVK_OIDC_TOKEN_AUTH", ""))
    oidc_redirect_uri: str = field(default_factory=lambda: os.environ.get("EVK_OIDC_REDIRECT_URI", ""))
    oidc_scopes: str = field(default_factory=lambda: os.environ.get("EVK_OIDC_SCOPES", "openid"))
    oidc_personal_code_claim: str = field(
        default_factory=lambda: os.environ.get("EVK_OIDC_PERSONAL_CODE_CLAIM", "personal_code"))
    oidc_return_urls: tuple[str, ...] = field(default_factory=lambda: tuple(
        u.strip() for u in os.environ.get("EVK_OIDC_RETURN_URLS", "").split(",") if u.strip()))
    # Audit on by default; EVK_AUDIT=0 exists to measure its cost (bench), never for service.
    audit: bool = field(default_factory=lambda: _flag("EVK_AUDIT", True))
    # Reads and refusals: wait for the audit commit before answering (see ehr_core/audit/writer.py).
    audit_sync: bool = field(default_factory=lambda: _flag("EVK_AUDIT_SYNC", False))
    # Write AuditEvents from a process of its own (ehr_core/audit/process.py). `evk serve` turns it
    # on unless EVK_AUDIT_PROCESS=0; in-process callers (tests, `evk load`) write from a thread.
    audit_process: bool = field(default_factory=lambda: _flag("EVK_AUDIT_PROCESS", False))
    # uvicorn's per-request access log line. Off by default: every FHIR and DICOMweb access
    # already leaves an AuditEvent, and the line costs about a tenth of a read's CPU.
    access_log: bool = field(default_factory=lambda: _flag("EVK_ACCESS_LOG", False))

    def __post_init__(self) -> None:
        if not self.database_url:
            url = os.environ.get("EVK_DATABASE_URL") or f"sqlite:///{self.data_dir / 'evk.sqlite3'}"
            object.__setattr__(self, "database_url", url)

    @property
    def fhir_base(self) -> str:
        return self.base_url.rstrip("/") + "/fhir"


def load_settings() -> Settings:
    return Settings()
