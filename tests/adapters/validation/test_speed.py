"""A loose guard on cost: validation runs on every write (target >= 1,000 resources/s end to end).

Measured on the 34 smart-r4 Synthea patients (4,306 resources, 2-core box): ~40 us/resource
without invariants, ~60 us with them. The bound here is 15x that, to catch a regression (say,
a hot invariant falling back to fhirpathpy) without flaking on a busy machine.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

PATIENTS = Path("/work/shared/testdata/synthea/smart-r4-synthea-2019/patients")


@pytest.mark.skipif(not PATIENTS.exists(), reason="shared test data not mounted")
def test_mean_cost_per_resource(validator) -> None:  # noqa: ANN001
    resources = [e["resource"] for p in sorted(PATIENTS.glob("*.json"))[:6]
                 for e in json.loads(p.read_text())["entry"]]
    started = time.process_time()
    for resource in resources:
        validator.validate(resource)
    per_resource = (time.process_time() - started) / len(resources)
    assert per_resource < 0.001, f"{per_resource * 1e6:.0f} us per resource"
