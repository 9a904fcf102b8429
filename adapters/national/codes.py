"""Codes from the big external code systems in national submissions.

Formal checks first, needing no terminology data: LOINC check digit
(https://loinc.org/kb/users-guide/ — "Calculating Mod 10 check digits"), SNOMED CT identifiers
(SNOMED CT Technical Implementation Guide, "SCTID": Verhoeff check digit and partition
identifier), the shape of ATC codes and UCUM grammar. Then membership in the national value sets
(``adapters/terminology``, bad-inputs.md #24-#27): LOINC and SNOMED CT codes must be in the
national subsets; ATC codes must exist, and a medication names a substance (level 5). While the
shipped ATC CodeSystem is a fragment (content ``fragment``) an ATC code it lacks gets a warning,
not a refusal: the full WHO index is licensed separately (docs/terminology.md).

>>> loinc_check_digit("8867")
4
>>> snomed_problem("38341003") is None
True
>>> snomed_problem("38341004")
'check digit'
"""
from __future__ import annotations

import re

from adapters.terminology import terminology, ucum
from adapters.terminology.systems import ATC, LOINC, SNOMED, UCUM, atc_level
from ehr_core.errors import Issue

from .rules import issue
from .walk import Visit

VALUE_SET = "https://evk.lv/fhir/ValueSet/"
# The national value set each system's codes must belong to.
NATIONAL_SUBSET = {LOINC: VALUE_SET + "loinc", SNOMED: VALUE_SET + "snomed-ct", ATC: VALUE_SET + "atc"}
# Elements naming a medicinal product: coded by ATC, at substance level (national-standard.md).
SUBSTANCE_ELEMENTS = frozenset({
    "Medication.code", "Medication.ingredient.itemCodeableConcept",
    "MedicationRequest.medicationCodeableConcept", "MedicationDispense.medicationCodeableConcept",
    "MedicationStatement.medicationCodeableConcept", "MedicationAdministration.medicationCodeableConcept",
})
_INDEX = re.compile(r"\[\d+\]")
_LOINC = re.compile(r"^(\d{1,7})-(\d)$")
_LOINC_OTHER = re.compile(r"^L[A-Z](\d{1,7})-(\d)$")   # LA (answers), LP (parts), LG, LL

_D = ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
      (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
      (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
      (9, 8, 7, 6, 5, 4, 3, 2, 1, 0))
_P = ((0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
      (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
      (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8))
# Partitions of component ids: 00/01/02 (core concept/description/relationship), 10/11/12 (extension).
CONCEPT_PARTITIONS = frozenset({"00", "10"})


def loinc_check_digit(digits: str) -> int:
    """Mod 10 (Luhn) over the code's digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d = d // 10 + d % 10
        total += d
    return (10 - total % 10) % 10


def verhoeff_valid(digits: str) -> bool:
    c = 0
    for i, ch in enumerate(reversed(digits)):
        c = _D[c][_P[i % 8][int(ch)]]
    return c == 0


def snomed_problem(code: str) -> str | None:
    """None for a well-formed concept id, else what is wrong (only all-digit codes are judged:
    a post-coordinated expression is not an id)."""
    if not code.isdigit():
        return None
    if not 6 <= len(code) <= 18 or code[0] == "0":
        return "length"
    if not verhoeff_valid(code):
        return "check digit"
    if code[-3:-1] not in CONCEPT_PARTITIONS:
        return "partition"
    return None


def loinc_problem(code: str) -> str | None:
    """None for a well-formed LOINC code, else the rule it breaks. LA/LP/LG codes carry a check
    digit computed over more than the digits: their format only is judged."""
    m = _LOINC.match(code)
    if m is None:
        return None if _LOINC_OTHER.match(code) else "evk-loinc-format"
    return None if loinc_check_digit(m.group(1)) == int(m.group(2)) else "evk-loinc-check-digit"



def coding(v: Visit) -> list[Issue]:
    system, code = v.value.get("system"), v.value.get("code")
    if type(code) is not str:
        return []
    where = f"{v.expr}.code"
    if system == LOINC:
        rule = loinc_problem(code)
        if rule is not None:
            m = _LOINC.match(code)
            return [issue(rule, where, code=code, expected=loinc_check_digit(m.group(1)) if m else None)]
        if not _in_national_subset(system, code):
            return [issue("evk-loinc-unknown", where, code=code)]
    elif system == SNOMED:
        problem = snomed_problem(code)
        if problem is not None:
            return [issue("evk-snomed-id", where, code=code, problem=problem)]
        if code.isdigit() and not _in_national_subset(system, code):
            return [issue("evk-snomed-subset", where, code=code)]
    elif system == ATC:
        return atc(v, code, where)
    return []


def atc(v: Visit, code: str, where: str) -> list[Issue]:
    level = atc_level(code)
    if level is None:
        return [issue("evk-atc-format", where, code=code)]
    if level != 5 and _element(v) in SUBSTANCE_ELEMENTS:
        return [issue("evk-atc-level", where, code=code, level=level)]
    if _in_national_subset(ATC, code):
        return []
    cs = terminology().code_system(ATC)
    if cs.content == "fragment":
        return [issue("evk-atc-unconfirmed", where, severity="warning", code=code, version=cs.version)]
    return [issue("evk-atc-unknown", where, code=code, version=cs.version)]


def quantity(v: Visit) -> list[Issue]:
    """A Quantity (or Age, Duration...) with a UCUM system carries a valid UCUM unit code."""
    code = v.value.get("code")
    if v.value.get("system") != UCUM or type(code) is not str or ucum.is_valid(code):
        return []
    return [issue("evk-ucum", f"{v.expr}.code", unit=code)]


def _in_national_subset(system: str, code: str) -> bool:
    return terminology().member(NATIONAL_SUBSET[system], system, code) is not False


def _element(v: Visit) -> str:
    """The element holding the Coding, as ``Type.path`` without indices: "MedicationRequest.medicationCodeableConcept"."""
    inner = _INDEX.sub("", v.expr[len(v.resource_expr) + 1:]).removesuffix(".coding")
    return f"{v.resource.get('resourceType')}.{inner}"
