"""Real data must pass: every Synthea resource and every official R4 example, without an error.

Data: /work/shared/testdata (read-only; see its PROVENANCE.md). No official example needed an
exemption, so KNOWN_INVALID is empty; an entry would need the example, the issue and the spec
text that makes the example wrong.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from .helpers import error_issues

TESTDATA = Path("/work/shared/testdata")
SYNTHEA_BUNDLES = sorted((TESTDATA / "synthea").rglob("*.json"))
SYNTHEA_NDJSON = sorted((TESTDATA / "synthea").rglob("*.ndjson"))
EXAMPLES = sorted((TESTDATA / "hl7-r4-examples").glob("*.json"))

# example file -> why it is genuinely invalid (checked against the spec)
KNOWN_INVALID: dict[str, str] = {}

pytestmark = pytest.mark.skipif(not TESTDATA.exists(), reason="shared test data not mounted")


def _describe(issues: list) -> str:
    return "\n".join(f"{i.rule} {i.expression} {i.diagnostics}" for i in issues[:20])


def test_the_data_is_there() -> None:
    assert len(SYNTHEA_BUNDLES) == 42 and len(SYNTHEA_NDJSON) == 12 and len(EXAMPLES) == 588


@pytest.mark.parametrize("path", SYNTHEA_BUNDLES, ids=lambda p: p.name[:40])
def test_synthea_bundle(validator, path: Path) -> None:  # noqa: ANN001
    bundle = json.loads(path.read_text())
    issues = error_issues(validator.validate(bundle))
    assert not issues, _describe(issues)


@pytest.mark.parametrize("path", SYNTHEA_NDJSON, ids=lambda p: p.name)
def test_synthea_bulk_export(validator, path: Path) -> None:  # noqa: ANN001
    issues = []
    for line in path.read_text().splitlines():
        issues += error_issues(validator.validate(json.loads(line)))
    assert not issues, _describe(issues)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_official_example(validator, path: Path) -> None:  # noqa: ANN001
    issues = error_issues(validator.validate(json.loads(path.read_text())))
    if path.name in KNOWN_INVALID:
        assert issues, f"{path.name} is listed as invalid but now passes"
        return
    assert not issues, _describe(issues)


def test_a_synthea_entry_validated_alone_gets_the_entry_path(validator) -> None:  # noqa: ANN001
    bundle = json.loads(SYNTHEA_BUNDLES[-1].read_text())
    entry = bundle["entry"][3]["resource"]
    broken = dict(entry, birthdate="1975")
    issues = validator.validate(broken, path="Bundle.entry[3].resource")
    assert [(i.rule, i.expression) for i in issues] == [
        ("struct-unknown-element", ("Bundle.entry[3].resource.birthdate",))]
