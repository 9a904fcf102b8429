"""Canonical URIs of the code systems EVK knows by name, and the ATC code structure.

ATC levels (WHOCC, "Structure and principles"): A (anatomical main group), A10 (therapeutic
subgroup), A10B (pharmacological subgroup), A10BA (chemical subgroup), A10BA02 (substance).

>>> [atc_level(c) for c in ("A", "A10", "A10B", "A10BA", "A10BA02", "A10BA2", "a10")]
[1, 2, 3, 4, 5, None, None]
"""
from __future__ import annotations

import re

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"

_ATC_LEVELS = [(5, re.compile(r"^[A-Z]\d\d[A-Z]{2}\d\d$")), (4, re.compile(r"^[A-Z]\d\d[A-Z]{2}$")),
               (3, re.compile(r"^[A-Z]\d\d[A-Z]$")), (2, re.compile(r"^[A-Z]\d\d$")), (1, re.compile(r"^[A-Z]$"))]


def atc_level(code: str) -> int | None:
    """The ATC level a code's shape gives, or None when it is no ATC code."""
    return next((level for level, shape in _ATC_LEVELS if shape.match(code)), None)
