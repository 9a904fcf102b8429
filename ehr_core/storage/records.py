"""What the store hands back: one stored version of a resource."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import format_datetime

import orjson


def now_micros() -> int:
    """The current time, truncated to milliseconds (what ``meta.lastUpdated`` shows), in µs."""
    us = int(datetime.now(timezone.utc).timestamp() * 1_000_000)
    return us - us % 1000


def instant(micros: int) -> str:
    """FHIR instant text for a stored time: ``2026-11-27T23:50:00.123Z``."""
    dt = datetime.fromtimestamp(micros / 1_000_000, tz=timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def http_date(micros: int) -> str:
    return format_datetime(datetime.fromtimestamp(micros // 1_000_000, tz=timezone.utc), usegmt=True)


@dataclass(frozen=True)
class StoredResource:
    resource_type: str
    id: str
    version_id: int
    last_updated: int          # µs since the epoch, UTC
    deleted: bool
    content: bytes             # the resource as JSON, meta.versionId/lastUpdated filled in

    def resource(self) -> dict:
        return orjson.loads(self.content)

    @property
    def etag(self) -> str:
        return f'W/"{self.version_id}"'

    @property
    def last_modified(self) -> str:
        return http_date(self.last_updated)

    @property
    def reference(self) -> str:
        return f"{self.resource_type}/{self.id}"
