"""The invariant pass: native tests agree with FHIRPath, failures carry the key, gaps are skipped."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from adapters.validation import StructureValidator
from adapters.validation.invariants import FhirPathEngine, InvariantCatalogue
from adapters.validation.structure import StructureWalk
from adapters.validation.validator import _tables

TESTDATA = Path("/work/shared/testdata")


class _CachedEngine(FhirPathEngine):
    """The reference engine, compiling each expression once (parsing is the slow part)."""

    def __init__(self) -> None:
        super().__init__()
        self._cache: dict = {}

    def compile(self, key: str, expression: str):  # noqa: ANN201
        if (key, expression) not in self._cache:
            self._cache[(key, expression)] = super().compile(key, expression)
        return self._cache[(key, expression)]


@pytest.fixture(scope="module")
def fhirpath() -> FhirPathEngine:
    return _CachedEngine()


def _sites(resource: dict) -> list[tuple]:
    model, _ = _tables(True)
    walk = StructureWalk(model, collect_sites=True)
    walk.resource_at(resource, resource["resourceType"])
    return walk.sites


def _both(fhirpath: FhirPathEngine, resource: dict, key: str) -> list[tuple[str, bool, bool | None]]:
    """(expression, native verdict, FHIRPath verdict) for every site of native invariant ``key``."""
    out = []
    for invariants, value, type_name, expr, res, root in _sites(resource):
        for inv in invariants:
            if inv.key == key and inv.native:
                by_fhirpath = fhirpath.compile(inv.key, inv.expression)
                assert by_fhirpath is not None
                out.append((expr, inv.test(value, type_name, res, root),
                            _fhirpath_verdict(by_fhirpath, value, type_name, res, root)))
    return out


def _real_resources() -> list[dict]:
    found = [json.loads(p.read_text()) for p in sorted((TESTDATA / "hl7-r4-examples").glob("*.json"))]
    for p in sorted((TESTDATA / "synthea" / "smart-r4-synthea-2019" / "patients").glob("*.json"))[:4]:
        found += [e["resource"] for e in json.loads(p.read_text())["entry"]]
    return found


def _fhirpath_verdict(reference, value, type_name, res, root) -> bool | None:  # noqa: ANN001
    try:
        return reference(value, type_name, res, root)
    except (ValueError, TypeError):
        return None


@pytest.mark.skipif(not TESTDATA.exists(), reason="shared test data not mounted")
def test_native_invariants_agree_with_fhirpath_on_real_data(fhirpath: FhirPathEngine) -> None:
    """Every native invariant against fhirpathpy on all official examples and four Synthea
    patients. Two known gaps of the reference, not of the native code:

    * dom-3: fhirpathpy 2.2.4 raises on ``as(canonical)`` applied to a collection, so it cannot
      evaluate dom-3 once a resource has contained resources (and is very slow trying); dom-3
      is covered by the crafted cases instead;
    * rng-2: fhirpathpy raises comparing quantities that are not UCUM;
    * txt-1/txt-2 (``htmlChecks()``): fhirpathpy has no such function; crafted cases below;
    * ref-1: on a Reference without ``reference`` (display or identifier only) the R4 text
      evaluates to empty, which strict evaluation counts as a failure; the official examples,
      which pass the reference validator, are full of such References, so the native version
      follows the prose ("if a local reference is provided").
    """
    checked, unusable, disagreements = 0, 0, []
    for resource in _real_resources():
        for invariants, value, type_name, expr, res, root in _sites(resource):
            for inv in invariants:
                if not inv.native or inv.key in ("dom-3", "txt-1", "txt-2"):    # crafted cases only (see above)
                    continue
                reference = fhirpath.compile(inv.key, inv.expression)
                assert reference is not None, inv.key
                verdict = _fhirpath_verdict(reference, value, type_name, res, root)
                if verdict is None:
                    assert inv.key == "rng-2", (inv.key, expr)     # quantities outside UCUM
                    unusable += 1
                    continue
                checked += 1
                if inv.test(value, type_name, res, root) == verdict:
                    continue
                if inv.key == "ref-1" and not str(value.get("reference", "")).startswith("#"):
                    continue
                disagreements.append((inv.key, expr))
    assert checked > 5_000 and unusable < 50
    assert disagreements == []


def obs(**extra: object) -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}, **extra}


def cond(**extra: object) -> dict:
    return {"resourceType": "Condition", "subject": {"reference": "Patient/p"}, **extra}


def allergy(**extra: object) -> dict:
    return {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p"}, **extra}


PATIENT = {"resourceType": "Patient", "active": True}


def bundle(kind: str, *entries: dict, **extra: object) -> dict:
    return {"resourceType": "Bundle", "type": kind, "entry": list(entries), **extra}


CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
VERIFIED = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
AI_VERIFIED = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


def cc(system: str, code: str) -> dict:
    return {"coding": [{"system": system, "code": code}]}


# Where fhirpathpy 2.2.4 itself gets the answer wrong (the native version is the reason to
# have a native version besides speed): it compares date/times as if there were no timezone
# offsets and no precision rule (FHIRPath: equal to the common precision but of different
# precision -> empty, which fails an invariant; the reference validator agrees, see the
# conformance case encounter-period).
FHIRPATHPY_WRONG = {
    ("per-1", "2024-03", "2024-03-05"),
    ("per-1", "2024-03-01T10:00:00+02:00", "2024-03-01T09:00:00Z"),
    ("per-1", "2024-03-01T10:00:00Z", "2024-03-01T11:00:00+02:00"),
    ("per-1", "2023-06-21", "2023-06-21T06:20:00Z"),
}
# and it cannot compare quantities outside UCUM at all (it raises): the Range cases below.

CASES = [
    # (resource, key, does it hold?)
    (obs(valueString="x", dataAbsentReason={"text": "n/a"}), "obs-6", False),
    (obs(_valueString={"extension": [{"url": "http://x", "valueString": "y"}]}, dataAbsentReason={"text": "n"}),
     "obs-6", False),
    (obs(dataAbsentReason={"text": "n/a"}), "obs-6", True),
    (obs(valueString="x", component=[{"code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}}]),
     "obs-7", False),
    (obs(valueString="x", component=[{"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]}}]),
     "obs-7", True),
    (obs(component=[{"code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]}}]), "obs-7", True),
    (cond(abatementDateTime="2020", clinicalStatus=cc(CLINICAL, "active")), "con-4", False),
    (cond(abatementDateTime="2020", clinicalStatus=cc(CLINICAL, "resolved")), "con-4", True),
    (cond(abatementString="gone"), "con-4", False),
    (cond(verificationStatus=cc(VERIFIED, "entered-in-error"), clinicalStatus=cc(CLINICAL, "active")),
     "con-5", False),
    (cond(verificationStatus=cc(VERIFIED, "confirmed"), clinicalStatus=cc(CLINICAL, "active")), "con-5", True),
    (allergy(), "ait-1", False),
    (allergy(verificationStatus=cc(AI_VERIFIED, "entered-in-error")), "ait-1", True),
    (allergy(verificationStatus=cc(AI_VERIFIED, "entered-in-error"),
             clinicalStatus=cc("http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical", "active")),
     "ait-2", False),
    (obs(effectivePeriod={"start": "2024-03-02", "end": "2024-03-01"}), "per-1", False),
    (obs(effectivePeriod={"start": "2024-03-01", "end": "2024-03-01"}), "per-1", True),
    (obs(effectivePeriod={"start": "2024-03", "end": "2024-03-05"}), "per-1", False),   # equal, less precise
    (obs(effectivePeriod={"start": "2024-03-01T10:00:00+02:00", "end": "2024-03-01T09:00:00Z"}), "per-1", True),
    (obs(effectivePeriod={"start": "2024-03-01T10:00:00Z", "end": "2024-03-01T11:00:00+02:00"}), "per-1", False),
    (obs(effectivePeriod={"start": "2024-03-01T10:00:00.5Z", "end": "2024-03-01T10:00:01Z"}), "per-1", True),
    (obs(effectivePeriod={"start": "2023-06-21", "end": "2023-06-21T06:20:00Z"}), "per-1", False),
    (obs(effectivePeriod={"start": "2023-06-20", "end": "2023-06-21T06:20:00Z"}), "per-1", True),
    (obs(valueQuantity={"value": 1, "code": "mg"}), "qty-3", False),
    (obs(valueQuantity={"value": 1, "code": "mg", "system": "http://unitsofmeasure.org"}), "qty-3", True),
    (obs(subject={"reference": "#p"}), "ref-1", False),
    (obs(subject={"reference": "#p"}, contained=[{"resourceType": "Patient", "id": "p"}]), "ref-1", True),
    (obs(contained=[{"resourceType": "Patient", "id": "p"}]), "dom-3", False),
    (obs(contained=[{"resourceType": "Patient", "id": "p", "meta": {"versionId": "1"}}],
         subject={"reference": "#p"}), "dom-4", False),
    (obs(contained=[{"resourceType": "Patient", "id": "p", "meta": {"security": [{"code": "R"}]}}],
         subject={"reference": "#p"}), "dom-5", False),
    (obs(contained=[{"resourceType": "Patient", "id": "p",
                     "contained": [{"resourceType": "Patient", "id": "q"}]}], subject={"reference": "#p"}),
     "dom-2", False),
    (bundle("collection", total=3), "bdl-1", False),
    (bundle("searchset", total=3), "bdl-1", True),
    (bundle("collection", {"fullUrl": "urn:uuid:1", "resource": PATIENT, "search": {"mode": "match"}}),
     "bdl-2", False),
    (bundle("collection", {"fullUrl": "urn:uuid:1", "resource": PATIENT,
                           "request": {"method": "POST", "url": "Patient"}}), "bdl-3", False),
    (bundle("transaction", {"fullUrl": "urn:uuid:1", "resource": PATIENT}), "bdl-3", False),
    (bundle("transaction", {"fullUrl": "urn:uuid:1", "resource": PATIENT,
                            "request": {"method": "POST", "url": "Patient"}}), "bdl-3", True),
    (bundle("batch-response", {"fullUrl": "urn:uuid:1", "resource": PATIENT}), "bdl-4", False),
    (bundle("collection", {"fullUrl": "urn:uuid:1"}), "bdl-5", False),
    (bundle("collection", {"fullUrl": "urn:uuid:1", "resource": PATIENT},
            {"fullUrl": "urn:uuid:1", "resource": PATIENT}), "bdl-7", False),
    (bundle("collection", {"fullUrl": "urn:uuid:1", "resource": dict(PATIENT, meta={"versionId": "1"})},
            {"fullUrl": "urn:uuid:1", "resource": dict(PATIENT, meta={"versionId": "2"})}), "bdl-7", True),
    (bundle("collection", {"fullUrl": "http://x.org/Patient/1/_history/2", "resource": PATIENT}), "bdl-8", False),
    (obs(valueRange={"low": {"value": 5, "unit": "mg"}, "high": {"value": 2, "unit": "mg"}}), "rng-2", False),
    (obs(valueRange={"low": {"value": 1, "unit": "mg"}, "high": {"value": 2, "unit": "mg"}}), "rng-2", True),
    ({"resourceType": "Organization", "active": True}, "org-1", False),
    ({"resourceType": "Organization", "name": "SIA X", "address": [{"use": "home", "city": "Rīga"}]}, "org-2", False),
    ({"resourceType": "Organization", "name": "SIA X", "telecom": [{"use": "home", "value": "1"}]}, "org-3", False),
    ({"resourceType": "Organization", "name": "SIA X", "telecom": [{"use": "work", "value": "1"}]}, "org-3", True),
]


@pytest.mark.parametrize("resource, key, holds", CASES, ids=[f"{c[1]}-{i}" for i, c in enumerate(CASES)])
def test_native_and_fhirpath_on_crafted_cases(fhirpath: FhirPathEngine, resource: dict, key: str,
                                               holds: bool) -> None:
    results = _both(fhirpath, resource, key)
    assert results, f"no {key} site"
    period = resource.get("effectivePeriod", {})
    fhirpathpy_wrong = (key, period.get("start"), period.get("end")) in FHIRPATHPY_WRONG
    if holds:
        assert all(native for _, native, _ in results), results
    else:
        assert any(not native for _, native, _ in results), results
    for _, native, by_fhirpath in results:
        if by_fhirpath is None:         # fhirpathpy cannot evaluate dom-3 or rng-2 (see above)
            assert key in ("dom-3", "rng-2")
            continue
        assert (native == by_fhirpath) != fhirpathpy_wrong, results


def test_ref_1_accepts_a_reference_to_the_container(fhirpath: FhirPathEngine) -> None:
    """The one deliberate difference from the R4 FHIRPath text: "#" is the container
    (references.html#contained), which the text of ref-1 in 4.0.1 wrongly fails."""
    contained = {"resourceType": "Provenance", "id": "pr", "target": [{"reference": "#"}],
                 "recorded": "2024-01-01T00:00:00Z", "agent": [{"who": {"display": "x"}}]}
    results = _both(fhirpath, obs(contained=[contained]), "ref-1")
    (_, native, by_fhirpath), = [r for r in results if r[0].endswith(".target[0]")]
    assert native and not by_fhirpath


def test_failures_carry_the_key_and_the_element(validator) -> None:  # noqa: ANN001
    patient = {"resourceType": "Patient", "contact": [{"gender": "female"}]}
    issue, = validator.validate(patient)
    assert (issue.rule, issue.code, issue.expression) == ("pat-1", "invariant", ("Patient.contact[0]",))
    assert issue.diagnostics.startswith("Constraint pat-1 failed") and issue.message_lv


def test_invariants_can_be_switched_off() -> None:
    patient = {"resourceType": "Patient", "contact": [{"gender": "female"}]}
    assert StructureValidator(invariants=False).validate(patient) == []


def test_unsupported_functions_are_skipped_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    catalogue = InvariantCatalogue()
    with caplog.at_level(logging.INFO, logger="adapters.validation.invariants"):
        for _ in range(3):
            assert catalogue.compile(["sdf-x", "error", "htmlChecks()", "narrative"]) is None
    assert len([r for r in caplog.records if "sdf-x" in r.getMessage()]) == 1


def test_warnings_and_structural_keys_are_not_compiled() -> None:
    catalogue = InvariantCatalogue()
    assert catalogue.compile(["dom-6", "warning", "text.`div`.exists()", "narrative"]) is None
    assert catalogue.compile(["ext-1", "error", "extension.exists() != value.exists()", "x"]) is None


def test_engine_failure_on_odd_data_does_not_raise(validator) -> None:  # noqa: ANN001
    # Malformed content reaches the FHIRPath engine too; structural issues, never an exception.
    risk = {"resourceType": "RiskAssessment", "status": "final", "subject": {"reference": "Patient/p"},
            "prediction": [{"probabilityDecimal": "high", "probabilityRange": {"low": {"value": "x"}}}]}
    rules = {i.rule for i in validator.validate(risk)}
    assert "struct-type" in rules and "struct-choice" in rules


def test_every_error_constraint_is_compiled_or_knowingly_skipped() -> None:
    _, catalogue = _tables(True)
    assert catalogue is not None
    compiled = {i.key for i in catalogue.compiled}
    assert {"obs-6", "obs-7", "per-1", "ref-1", "dom-3", "pat-1", "que-1", "bdl-7", "txt-1", "txt-2"} <= compiled
    assert not {"ext-1", "ele-1"} & compiled


@pytest.mark.parametrize("div, failed", [
    ('<div xmlns="http://www.w3.org/1999/xhtml"><p>Asinsgrupa <b>A</b></p><table><tr><td>1</td></tr></table></div>', set()),
    ('<div xmlns="http://www.w3.org/1999/xhtml"><img src="#a" alt=""/></div>', set()),
    ('<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script>x</div>', {"txt-1"}),
    ('<div xmlns="http://www.w3.org/1999/xhtml"><p onclick="x()">x</p></div>', {"txt-1"}),
    ('<div xmlns="http://www.w3.org/1999/xhtml"><form><p>x</p></form></div>', {"txt-1"}),
    ('<div xmlns="http://www.w3.org/1999/xhtml"> <p> </p></div>', {"txt-2"}),
])
def test_txt_1_and_txt_2_html_checks(validator, div, failed) -> None:  # noqa: ANN001
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    assert {i.rule for i in validator.validate(patient)} == failed


def test_dom_3_names_the_unreferenced_contained_resource(validator) -> None:  # noqa: ANN001
    contained = [{"resourceType": "Patient", "id": "a"}, {"resourceType": "Patient", "id": "b"}]
    observation = obs(contained=contained, subject={"reference": "#a"})
    assert [(i.rule, i.expression) for i in validator.validate(observation)] == [
        ("dom-3", ("Observation.contained[1]",))]
