"""Orthanc as the storage backend (EVK_IMAGING_BACKEND=orthanc), over its REST API.

Only Orthanc's storage is used — POST /instances, GET /instances/{id}/file, the raw frames,
DELETE — never its index for searching (see ../../shared/standards/imaging.md). A plain httpx
client is enough for five calls, so no client library is involved.
https://orthanc.uclouvain.be/book/users/rest.html
"""
from __future__ import annotations

import time
from collections.abc import Sequence

import httpx

from imaging.backends.base import StorageBackend, Stored, in_parallel
from imaging.errors import BackendError, NotFound

RETRIES = 3   # Orthanc 1.10 answers a rare 500 to concurrent POST /instances; a retry succeeds


class OrthancStore(StorageBackend):
    name = "orthanc"

    def __init__(self, url: str, user: str = "", password: str = "", *, timeout: float = 60.0):
        auth = httpx.BasicAuth(user, password) if user else None
        self.url = url.rstrip("/")
        self.http = httpx.Client(base_url=self.url, auth=auth, timeout=timeout)

    def _call(self, method: str, path: str, **kw) -> httpx.Response:  # noqa: ANN003
        last: Exception | None = None
        for attempt in range(RETRIES):
            try:
                resp = self.http.request(method, path, **kw)
            except httpx.HTTPError as exc:
                last = exc
            else:
                if resp.status_code == 404:
                    raise NotFound(f"Orthanc has no {path}")
                if resp.status_code < 500:
                    if resp.status_code >= 400:
                        raise BackendError(f"Orthanc refused {method} {path}: {resp.status_code} {resp.text[:200]}")
                    return resp
                last = BackendError(f"Orthanc answered {resp.status_code} to {method} {path}: {resp.text[:200]}")
            time.sleep(0.05 * (attempt + 1))
        raise BackendError(f"Orthanc at {self.url} failed: {last}")

    def store(self, data: bytes, content_hash: str) -> Stored:
        resp = self._call("POST", "/instances", content=data,
                          headers={"Content-Type": "application/dicom"})
        body = resp.json()
        return Stored(body["ID"], created=body.get("Status") != "AlreadyStored")

    def store_many(self, items: Sequence[tuple[bytes, str]]) -> list[Stored | BackendError]:
        """Several POSTs in flight at once (the shared I/O pool): Orthanc stores concurrently, so a
        batch does not wait one round trip per instance."""
        def one(item: tuple[bytes, str]) -> Stored | BackendError:
            try:
                return self.store(*item)
            except BackendError as exc:
                return exc
        return in_parallel(one, items)

    def retrieve(self, key: str) -> bytes:
        return self._call("GET", f"/instances/{key}/file").content

    def retrieve_frames(self, key: str, numbers: Sequence[int]) -> list[bytes]:
        # Orthanc numbers frames from 0 (rest.html#frames); PS3.18 from 1.
        out = []
        for n in numbers:
            if n < 1:
                raise NotFound(f"frame {n} does not exist")
            out.append(self._call("GET", f"/instances/{key}/frames/{n - 1}/raw").content)
        return out

    def delete(self, key: str) -> None:
        try:
            self._call("DELETE", f"/instances/{key}")
        except NotFound:
            pass

    def health(self) -> dict:
        try:
            resp = self.http.get("/system", timeout=5.0)
            ok = resp.status_code == 200
            info = resp.json() if ok else {}
            return {"backend": self.name, "ok": ok, "url": self.url, "version": info.get("Version")}
        except (httpx.HTTPError, ValueError) as exc:
            return {"backend": self.name, "ok": False, "url": self.url, "error": str(exc)}

    def close(self) -> None:
        self.http.close()
