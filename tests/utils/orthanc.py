"""A private Orthanc for tests and benchmarks: loopback, free ports, its own storage, stopped cleanly.

Follows ../shared/standards/imaging.md: started by hand with our own configuration,
``RemoteAccessAllowed: false``, the DICOMweb plugin named by path, ``TCP_NODELAY=1``; stopped
with SIGTERM to its own PID and waited for (a restart before that finds the database locked).
Orthanc missing is an error, never a skip: run ``scripts/ensure-orthanc``.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx

PLUGINS = ("/usr/share/orthanc/plugins/libOrthancDicomWeb.so", "/usr/share/orthanc/plugins/libOrthancGdcm.so")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OrthancServer:
    def __init__(self, workdir: Path, *, plugins: tuple[str, ...] = PLUGINS):
        binary = shutil.which("Orthanc")
        if binary is None:
            raise RuntimeError("Orthanc is not installed: run scripts/ensure-orthanc")
        self.binary = binary
        self.workdir = Path(workdir)
        self.http_port = free_port()
        self.dicom_port = free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.plugins = [p for p in plugins if Path(p).exists()]
        self.process: subprocess.Popen | None = None

    def config(self) -> dict:
        return {
            "Name": "evk-test",
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / "index"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": "EVKORTHANC",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "Plugins": self.plugins,
            "SaveJobs": False,
            "StorageCompression": False,
            "OverwriteInstances": False,
            "DicomAlwaysAllowStore": True,
            "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        }

    def start(self, timeout: float = 20.0) -> OrthancServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "orthanc.json"
        path.write_text(json.dumps(self.config(), indent=2))
        log = open(self.workdir / "orthanc.log", "wb")  # noqa: SIM115 - lives as long as the process
        env = dict(os.environ, TCP_NODELAY="1")
        self.process = subprocess.Popen([self.binary, str(path)], stdout=log, stderr=subprocess.STDOUT, env=env,
                                        cwd=self.workdir)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode}: "
                                   f"{(self.workdir / 'orthanc.log').read_text()[-2000:]}")
            try:
                if httpx.get(self.url + "/system", timeout=1.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer on {self.url} within {timeout} s")

    def stop(self, timeout: float = 30.0) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def __enter__(self) -> OrthancServer:
        return self.start()

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        self.stop()
