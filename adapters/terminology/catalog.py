"""The classifiers as data: every ``CodeSystem-*.json[.gz]`` and ``ValueSet-*.json[.gz]`` of the
national package (``adapters/national/package``), grouped by canonical URL and version.

Several versions of one URL may sit side by side (one file each, distinct ids); a request without
a version gets the latest (versions compare part by part, numbers as numbers). Dropping a new file
into the package and restarting (or ``reload()``) is all an update takes.
"""
from __future__ import annotations

import gzip
import json
import re
from functools import lru_cache
from pathlib import Path

from .codesystem import CodeSystemIndex

PACKAGE = Path(__file__).resolve().parents[1] / "national" / "package"
KINDS = ("CodeSystem", "ValueSet")


def version_key(version: str | None) -> tuple:
    """'2019' < '2023.1' < '2023.10'; a missing version sorts first."""
    if version is None:
        return ()
    return tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"[.\-]", version))


def read(path: Path) -> dict:
    data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    return json.loads(data)


class Catalog:
    def __init__(self, folder: Path = PACKAGE):
        self.folder = folder
        self.resources: dict[tuple[str, str], dict] = {}                   # (type, id) -> resource
        self._by_url: dict[str, dict[str, list[dict]]] = {k: {} for k in KINDS}
        for kind in KINDS:
            for path in sorted(folder.glob(f"{kind}-*.json")) + sorted(folder.glob(f"{kind}-*.json.gz")):
                r = read(path)
                if r.get("resourceType") != kind or "url" not in r:
                    raise ValueError(f"{path.name} is not a {kind} with a url")
                if (kind, r["id"]) in self.resources:
                    raise ValueError(f"{path.name}: {kind}/{r['id']} is defined twice")
                self.resources[(kind, r["id"])] = r
                self._by_url[kind].setdefault(r["url"], []).append(r)
        for versions in (*self._by_url["CodeSystem"].values(), *self._by_url["ValueSet"].values()):
            versions.sort(key=lambda r: version_key(r.get("version")))
        self._indexes: dict[tuple[str, str | None], CodeSystemIndex] = {}

    def find(self, kind: str, url: str, version: str | None = None) -> dict | None:
        """The resource with that canonical URL (``url|version`` accepted), latest if no version."""
        if version is None and "|" in url:
            url, version = url.split("|", 1)
        versions = self._by_url[kind].get(url) or []
        if version is None:
            return versions[-1] if versions else None
        return next((r for r in versions if r.get("version") == version), None)

    def versions(self, kind: str, url: str) -> list[str | None]:
        return [r.get("version") for r in self._by_url[kind].get(url) or []]

    def code_system(self, url: str, version: str | None = None) -> CodeSystemIndex | None:
        r = self.find("CodeSystem", url, version)
        if r is None:
            return None
        key = (r["url"], r.get("version"))
        if key not in self._indexes:
            self._indexes[key] = CodeSystemIndex(r)
        return self._indexes[key]

    def of_kind(self, kind: str) -> list[dict]:
        return [r for (k, _), r in sorted(self.resources.items()) if k == kind]


@lru_cache(maxsize=None)
def catalog(folder: Path = PACKAGE) -> Catalog:
    return Catalog(folder)


def reload() -> None:
    """Forget the loaded classifiers (and everything computed from them)."""
    catalog.cache_clear()
