"""Agreement with the reference (Java) validator on the R4 cases of HL7's fhir-test-cases.

/work/shared/testdata/conformance (see its PROVENANCE.md): 156 R4 cases with the expected
OperationOutcome. Scoring as agreed there: the verdict first (any error/fatal issue or none),
then the error paths. Most disagreements are outside this validator's job (terminology server,
profiles, slicing, references, extension definitions, narrative and markdown content, Bundle
rules, conformance resources); what must never happen is an error where the reference
validator finds none.

Body parsing is part of the verdict: the cases with broken JSON are refused by the REST layer's
strict parser (``ehr_core.rest.jsonbody``) before validation, as in production.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from adapters.validation import ValidationOptions
from ehr_core.errors import FhirError
from ehr_core.rest.jsonbody import parse_json

from .helpers import error_issues

CASES_DIR = Path("/work/shared/testdata/conformance/fhir-test-cases")


def _options(case: dict) -> ValidationOptions:
    """The manifest's switches for a case, as the reference validator was run with them."""
    return ValidationOptions(
        security_checks=case.get("security-checks", False) is True,
        html_in_markdown=case.get("noHtmlInMarkdown", False) is not True,
        example_urls=case.get("examples", True) is not False,
        contained=case.get("validateContains", "CHECK_VALID") != "IGNORE")

pytestmark = pytest.mark.skipif(not CASES_DIR.exists(), reason="conformance cases not mounted")


@dataclass
class Outcome:
    name: str
    expected: list[str]     # error paths of the reference validator
    found: list[str]        # our error paths ("" when the body does not even parse)

    @property
    def agrees(self) -> bool:
        return bool(self.expected) == bool(self.found)


def _expected_errors(case: dict) -> list[str] | None:
    java = case.get("java")
    if isinstance(java, str):
        outcome = json.loads((CASES_DIR / "outcomes" / java).read_text())
    elif isinstance(java, dict):
        outcome = java.get("outcome") or {"issue": [{"severity": "error"}] * java.get("errorCount", 0)}
    else:
        return None
    return [_java_path(i, case) for i in outcome.get("issue", []) if i.get("severity") in ("error", "fatal")]


_FULL_URL = re.compile(r"The fullUrl must be an absolute URL \(not '(.+)'\)")


def _java_path(issue: dict, case: dict) -> str:
    """The error path, except that Java names ``Bundle.entry[0]`` for every entry's relative
    fullUrl (bundle-duplicate-ids-not: 39 issues at entry[0], each message quoting another
    entry's fullUrl): those go on the entry the message quotes."""
    path = (issue.get("expression") or [""])[0]
    quoted = _FULL_URL.search(issue.get("details", {}).get("text", ""))
    if quoted:
        entries = json.loads((CASES_DIR / case["file"]).read_text()).get("entry", [])
        for i, entry in enumerate(entries):
            if entry.get("fullUrl") == quoted[1]:
                return f"Bundle.entry[{i}]"
    return path


def _run(validator, case: dict) -> list[str]:  # noqa: ANN001
    try:
        resource = parse_json((CASES_DIR / case["file"]).read_bytes())
    except FhirError:
        return [""]
    if not isinstance(resource, dict):
        return [""]
    validator = validator.with_options(_options(case))
    return [i.expression[0] if i.expression else "" for i in error_issues(validator.validate(resource))]


@pytest.fixture(scope="module")
def outcomes(validator) -> list[Outcome]:  # noqa: ANN001
    manifest = json.loads((CASES_DIR / "manifest.json").read_text())
    out = []
    for case in manifest["test-cases"]:
        expected = _expected_errors(case)
        if expected is not None:
            out.append(Outcome(case["name"], expected, _run(validator, case)))
    return out


def _normalise(path: str) -> str:
    """Java paths carry comments (``resource/*Patient/1*/``) and choice casts (``value.ofType(Quantity)``)."""
    path = re.sub(r"/\*.*?\*/", "", path)
    return re.sub(r"\.(\w+)\.ofType\((\w)(\w*)\)", lambda m: f".{m[1]}{m[2].upper()}{m[3]}", path)


def _path_matches(expected: str, found: list[str]) -> bool:
    # Java names the parent for a missing or unknown element; we name the element itself.
    expected = _normalise(expected)
    return any(f == expected or f.startswith(expected + ".") for f in found)


def test_verdict_agreement(outcomes: list[Outcome]) -> None:
    agreed = sum(o.agrees for o in outcomes)
    print(f"\nverdict agreement with the reference validator: {agreed}/{len(outcomes)} "
          f"= {agreed / len(outcomes):.1%}")
    assert len(outcomes) == 156
    assert agreed >= 142


def test_no_error_where_the_reference_validator_finds_none(outcomes: list[Outcome]) -> None:
    false_alarms = [(o.name, o.found) for o in outcomes if o.found and not o.expected]
    assert false_alarms == []


def test_error_paths_agree_where_both_refuse(outcomes: list[Outcome]) -> None:
    both = [o for o in outcomes if o.expected and o.found and o.found != [""]]
    ours_confirmed = [f for o in both for f in o.found if any(_path_matches(e, [f]) for e in o.expected)]
    ours = [f for o in both for f in o.found]
    print(f"\nour error paths that the reference validator also reports: {len(ours_confirmed)}/{len(ours)}")
    assert len(ours_confirmed) >= 0.9 * len(ours)
