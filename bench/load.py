"""Closed-loop HTTP load from wrk (C, one thread): on a two-core machine the load generator must
take little CPU, or the figures are the clients' rather than the server's. ``apt-get install
wrk``. Each request is a GET of a random path from the given list."""
from __future__ import annotations

import os
import random
import re
import subprocess
import tempfile

WRK_SCRIPT = """
paths = {%s}
request = function()
  return wrk.format("GET", paths[math.random(#paths)])
end
"""


def wrk_get(base: str, paths: list[str], seconds: float, clients: int, headers: dict[str, str]) -> dict:
    """{"requests", "rps", "p50_ms", "p99_ms"} over ``seconds`` with ``clients`` connections;
    any answer other than 2xx fails the run."""
    chosen = random.sample(paths, min(5000, len(paths)))
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(WRK_SCRIPT % ",".join('"%s"' % p.replace('"', '\\"') for p in chosen))
    try:
        args = ["wrk", "-t1", f"-c{clients}", f"-d{int(seconds)}s", "--timeout", "30s", "--latency", "-s", f.name]
        for k, v in headers.items():
            args += ["-H", f"{k}: {v}"]
        out = subprocess.run([*args, base], capture_output=True, text=True, check=True).stdout
    finally:
        os.unlink(f.name)
    if "Non-2xx" in out:
        raise SystemExit(f"load run had failures:\n{out}")

    def ms(pct: str) -> float:
        value, unit = re.search(rf"{pct}%\s+([\d.]+)(us|ms|s)", out).groups()
        return round(float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit], 2)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {"client": "wrk", "clients": clients, "requests": requests, "rps": round(requests / seconds, 1),
            "p50_ms": ms("50"), "p99_ms": ms("99")}
