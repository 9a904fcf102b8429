"""``evk load`` on all the Synthea data (bundles, conditional references, bulk NDJSON), both engines."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, func, select

from ehr_core.cli import main
from ehr_core.loader import directory_criteria
from ehr_core.storage import schema
from tests.utils.fhir import SHARED

SYNTHEA = SHARED / "synthea"


def _count(url: str) -> int:
    eng = create_engine(url)
    with eng.connect() as c:
        n = c.execute(select(func.count()).select_from(schema.resource)).scalar()
    eng.dispose()
    return n


@pytest.mark.xdist_group("load")
def test_load_all_synthea_with_zero_errors(db_url, monkeypatch):  # noqa: ANN001
    monkeypatch.setenv("EVK_DATABASE_URL", db_url)
    monkeypatch.setenv("EVK_DEMO_DATA", "0")
    result = CliRunner().invoke(main, ["load", str(SYNTHEA)])
    assert result.exit_code == 0, result.output[-3000:]
    assert " 0 failed" in result.output
    # independently: every entry once, except directory resources (organisations, locations,
    # practitioners, ...), which are one per business identifier across all sources
    directory, others = set(), 0
    for f in SYNTHEA.rglob("*.json"):
        for e in json.loads(f.read_text())["entry"]:
            key = e["request"].get("ifNoneExist") or directory_criteria(e["resource"])
            if key:
                directory.add((e["resource"]["resourceType"], key))
            else:
                others += 1
    for f in SYNTHEA.rglob("*.ndjson"):
        for line in f.open():
            r = json.loads(line)
            if directory_criteria(r):
                directory.add((r["resourceType"], directory_criteria(r)))
            else:
                others += 1
    total = others + len(directory)
    assert _count(db_url) == total
    # loading again changes nothing for the conditional (ifNoneExist) and PUT (NDJSON) parts
    # (HIV's PractitionerRoles carry no identifier, so a reload of that file would add them again)
    again = CliRunner().invoke(main, ["load", str(next((SYNTHEA / "fhir-data-pipes-hiv-v3" / "_load_first")
                                                       .glob("hospitalInformation*.json"))),
                                      str(SYNTHEA / "bulk-ndjson-10-patients")])
    assert again.exit_code == 0, again.output[-2000:]
    assert _count(db_url) == total


def test_load_reports_failures_with_nonzero_exit(db_url, monkeypatch, tmp_path):  # noqa: ANN001
    monkeypatch.setenv("EVK_DATABASE_URL", db_url)
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceType": "Bundle", "type": "transaction", "entry": [{"resource": '
                   '{"resourceType": "Patient", "birthdate": "x"}, "request": {"method": "POST", "url": "Patient"}}]}')
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    result = CliRunner().invoke(main, ["load", str(tmp_path)])
    assert result.exit_code == 1
    assert "2 failed" in result.output and "birthdate" in result.output
    assert _count(db_url) == 0


@pytest.mark.xdist_group("load")
def test_kill_9_mid_load_keeps_every_committed_transaction_whole(db_url, tmp_path):  # noqa: ANN001
    """Each patient bundle is one transaction: after kill -9 the store holds exactly a prefix of them."""
    folder = SYNTHEA / "smart-r4-synthea-2019" / "patients"
    files = sorted(folder.glob("*.json"))
    # what each bundle adds: its entries, less directory resources an earlier bundle stored
    seen: set[tuple[str, str]] = set()
    sizes = []
    for f in files:
        added = 0
        for e in json.loads(f.read_text())["entry"]:
            key = directory_criteria(e["resource"])
            if key is None or (e["resource"]["resourceType"], key) not in seen:
                added += 1
            if key:
                seen.add((e["resource"]["resourceType"], key))
        sizes.append(added)
    prefix_sums = {sum(sizes[:k]) for k in range(len(sizes) + 1)}
    env = dict(os.environ, EVK_DATABASE_URL=db_url, EVK_DEMO_DATA="0")
    proc = subprocess.Popen([sys.executable, "-m", "ehr_core.cli", "load", str(folder)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and _count(db_url) < sizes[0] + sizes[1]:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    stored = _count(db_url)
    assert 0 < stored < sum(sizes), "the kill should land mid-load"
    assert stored in prefix_sums, f"{stored} resources is not a whole number of bundles"
