"""Formal checks of codes from the big external code systems, needing no terminology data:
LOINC check digit (https://loinc.org/kb/users-guide/ — "Calculating Mod 10 check digits") and
SNOMED CT identifiers (SNOMED CT Technical Implementation Guide, "SCTID": Verhoeff check digit
and partition identifier). Existence in the national subsets needs the classifiers (not here).

>>> loinc_check_digit("8867")
4
>>> snomed_problem("38341003") is None
True
>>> snomed_problem("38341004")
'check digit'
"""
from __future__ import annotations

import re

from ehr_core.errors import Issue

from .rules import issue
from .walk import Visit

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
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


def coding(v: Visit) -> list[Issue]:
    system, code = v.value.get("system"), v.value.get("code")
    if type(code) is not str:
        return []
    where = f"{v.expr}.code"
    if system == LOINC:
        m = _LOINC.match(code)
        if m is None and not _LOINC_OTHER.match(code):
            return [issue("evk-loinc-format", where, code=code)]
        # LA/LP/LG codes carry a check digit computed over more than the digits: format only.
        if m is not None and loinc_check_digit(m.group(1)) != int(m.group(2)):
            return [issue("evk-loinc-check-digit", where, code=code, expected=loinc_check_digit(m.group(1)))]
    elif system == SNOMED:
        problem = snomed_problem(code)
        if problem is not None:
            return [issue("evk-snomed-id", where, code=code, problem=problem)]
    return []
