"""Replicating the Synthea bundles with fresh ids, to reach benchmark volumes from real data.

Every UUID in a bundle (fullUrls, ids, references) is replaced consistently by a new one, so
each copy is a new set of patients with the same clinical shape.
"""
from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "testdata"
SMART = SHARED / "synthea" / "smart-r4-synthea-2019" / "patients"
UUID_RE = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def fresh_copy(raw: bytes) -> bytes:
    mapping: dict[bytes, bytes] = {}

    def swap(m: re.Match) -> bytes:
        old = m.group(0)
        new = mapping.get(old)
        if new is None:
            new = mapping[old] = str(uuid.uuid4()).encode()
        return new

    return UUID_RE.sub(swap, raw)


def bundles(min_resources: int, folder: Path = SMART) -> Iterator[tuple[bytes, int]]:
    """Yield (bundle JSON, entry count) until at least ``min_resources`` entries were yielded."""
    import orjson
    originals = [(p.read_bytes(), len(orjson.loads(p.read_bytes())["entry"])) for p in sorted(folder.glob("*.json"))]
    total = 0
    copy = 0
    while total < min_resources:
        for raw, n in originals:
            yield (raw if copy == 0 else fresh_copy(raw)), n
            total += n
            if total >= min_resources:
                return
        copy += 1
