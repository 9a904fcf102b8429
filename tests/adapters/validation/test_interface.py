"""The public surface other code relies on, and the shape of every issue."""
from __future__ import annotations

import inspect
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import adapters.validation as validation
from adapters.validation import StructureValidator
from adapters.validation.messages import RULES
from ehr_core.errors import Issue, operation_outcome

# http://hl7.org/fhir/ValueSet/issue-type (R4)
ISSUE_TYPES = {"invalid", "structure", "required", "value", "invariant", "security", "login", "unknown",
               "expired", "forbidden", "suppressed", "processing", "not-supported", "duplicate",
               "multiple-matches", "not-found", "deleted", "too-long", "code-invalid", "extension",
               "too-costly", "business-rule", "conflict", "transient", "lock-error", "no-store",
               "exception", "timeout", "incomplete", "throttled", "informational"}

BROKEN = {
    "resourceType": "Observation", "birthdate": "x", "status": "done", "code": {},
    "valueString": "", "valueBoolean": "true", "effectiveDateTime": "2024-02-30T10:00:00",
    "extension": [{"url": "relative"}], "_status": {"id": "x"},
    "component": [{"code": {"text": "c"}, "valueQuantity": {"value": 1, "code": "mg"}}],
    "subject": {"reference": "#missing"}, "dataAbsentReason": {"text": "n/a"},
}


def test_public_surface() -> None:
    assert validation.__all__ == ["ProfileSet", "StructureValidator", "ValidationOptions", "invariant_compiler"]
    signature = inspect.signature(StructureValidator.validate)
    assert list(signature.parameters) == ["self", "resource", "path"]
    assert signature.parameters["path"].kind is inspect.Parameter.KEYWORD_ONLY
    assert inspect.signature(StructureValidator).parameters["invariants"].default is True
    assert StructureValidator().options == validation.ValidationOptions()   # the reference validator's defaults


def test_every_issue_is_complete(validator) -> None:  # noqa: ANN001
    issues = validator.validate(BROKEN)
    assert len(issues) >= 10
    for i in issues:
        assert isinstance(i, Issue)
        assert i.severity == "error" and i.code in ISSUE_TYPES
        assert i.rule and i.diagnostics and i.message_lv and i.message_lv != i.diagnostics
        assert len(i.expression) == 1 and i.expression[0].startswith("Observation")
    json.dumps(operation_outcome(issues))


def test_rule_catalogue_uses_fhir_issue_types() -> None:
    assert {code for code, _, _ in RULES.values()} <= ISSUE_TYPES


def test_validators_share_the_tables() -> None:
    StructureValidator()
    started = time.perf_counter()
    for _ in range(100):
        StructureValidator()
    assert time.perf_counter() - started < 0.05


def test_concurrent_use_gives_the_same_answers(validator) -> None:  # noqa: ANN001
    bundle = json.loads(sorted(Path("/work/shared/testdata/hl7-r4-examples").glob("Bundle-*.json"))[0].read_text()) \
        if Path("/work/shared/testdata").exists() else {"resourceType": "Bundle", "type": "collection"}
    inputs = [BROKEN, bundle] * 20
    expected = [validator.validate(r) for r in inputs]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(validator.validate, inputs)) == expected


def test_not_an_object(validator) -> None:  # noqa: ANN001
    issue, = validator.validate(["not", "a", "resource"])  # type: ignore[arg-type]
    assert issue.rule == "struct-type"
