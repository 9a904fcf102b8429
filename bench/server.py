"""Running ``evk serve`` for a benchmark: start on loopback, wait until healthy, always stop."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


@contextmanager
def evk_server(url: str, port: int, *, audit: bool = True, workers: int = 1) -> Iterator[subprocess.Popen]:
    try:
        httpx.get(f"http://127.0.0.1:{port}/healthz")
        raise RuntimeError(f"port {port} is already served by another process; stop it first")
    except httpx.HTTPError:
        pass
    env = dict(os.environ, EVK_DATABASE_URL=url, EVK_DEMO_DATA="0", EVK_BASE_URL=f"http://127.0.0.1:{port}",
               EVK_AUDIT="1" if audit else "0")
    server = subprocess.Popen([sys.executable, "-m", "ehr_core.cli", "serve", "--port", str(port),
                               "--workers", str(workers)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(150):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError(f"evk serve did not answer on port {port}")
        yield server
    finally:
        server.terminate()
        server.wait(10)
