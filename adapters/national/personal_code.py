"""The Latvian personal code (personas kods), per ../shared/standards/personal-code.md.

Same shape as python-stdnum's modules: ``compact``, ``validate``, ``is_valid``, ``format``.

>>> validate('161175-19997')
'16117519997'
>>> format('16117519997')
'161175-19997'
>>> is_valid('161175-19998')
False
>>> birth_date('161175-19997')
datetime.date(1975, 11, 16)
>>> validate('328673-00679')
'32867300679'
>>> birth_date('32867300679') is None
True
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

PERSONAL_CODE_SYSTEM = "https://evk.lv/fhir/sid/personas-kods"
WEIGHTS = (1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
NEW_FORMAT_SINCE = date(2017, 7, 1)
_NEW = re.compile(r"^3[2-9][0-9]{9}$")
_CENTURY = {"0": 1800, "1": 1900, "2": 2000}


@dataclass(frozen=True)
class PersonalCodeError(ValueError):
    """Why a code is not valid: ``rule`` is format | date | century | check-digit | legacy-after-2017."""

    rule: str
    message: str

    def __str__(self) -> str:
        return self.message


def compact(code: str) -> str:
    """Remove the optional hyphen and surrounding spaces."""
    return code.strip().replace("-", "")


def check_digit(digits: str) -> int:
    s = sum(w * int(d) for w, d in zip(WEIGHTS, digits[:10]))
    return ((1101 - s) % 11) % 10


def is_new_format(code: str) -> bool:
    return bool(_NEW.match(compact(code)))


def birth_date(code: str) -> date | None:
    """The birth date a legacy code encodes; None for new-format codes (they encode none)."""
    digits = compact(code)
    if _NEW.match(digits):
        return None
    return date(_CENTURY[digits[6]] + int(digits[4:6]), int(digits[2:4]), int(digits[0:2]))


def validate(code: str, *, strict_new_check_digit: bool = False) -> str:
    """Return the compact code or raise PersonalCodeError naming the failed rule.

    New-format codes: the check-digit rule is not officially published, so a mismatch is only
    an error when ``strict_new_check_digit``; callers report it as a warning otherwise
    (see ``warnings``).
    """
    digits = compact(code)
    if not re.fullmatch(r"[0-9]{11}", digits):
        raise PersonalCodeError("format", f"{code!r} is not 11 digits (DDMMYY-CNNNQ or 3XXXXX-XXXXX)")
    if _NEW.match(digits):
        if strict_new_check_digit and check_digit(digits) != int(digits[10]):
            raise PersonalCodeError("check-digit", f"{code!r}: check digit should be {check_digit(digits)}")
        return digits
    if digits[6] not in _CENTURY:
        raise PersonalCodeError("century", f"{code!r}: century digit {digits[6]} is not 0, 1 or 2")
    try:
        born = birth_date(digits)
    except ValueError:
        raise PersonalCodeError("date", f"{code!r}: {digits[:6]} is not a calendar date") from None
    if check_digit(digits) != int(digits[10]):
        raise PersonalCodeError("check-digit", f"{code!r}: check digit should be {check_digit(digits)}")
    if born is not None and born >= NEW_FORMAT_SINCE:
        raise PersonalCodeError("legacy-after-2017",
                                f"{code!r}: legacy codes are not issued to people born after 30 June 2017")
    return digits


def warnings(code: str) -> list[str]:
    """Soft findings: a new-format code whose (unofficial) check digit does not match."""
    digits = compact(code)
    if _NEW.match(digits) and check_digit(digits) != int(digits[10]):
        return [f"{code!r}: check digit differs from the published (unofficial) rule"]
    return []


def is_valid(code: str) -> bool:
    try:
        validate(code)
    except PersonalCodeError:
        return False
    return True


def code_forms(code: str) -> set[str]:
    """The ways a code may be written in stored identifiers: as given, compact, with the hyphen.

    >>> sorted(code_forms('16117519997'))
    ['161175-19997', '16117519997']
    """
    digits = compact(code)
    forms = {code, digits}
    if len(digits) == 11:
        forms.add(format(digits))
    return forms


def format(code: str) -> str:  # noqa: A001 — stdnum's name
    digits = compact(code)
    return f"{digits[:6]}-{digits[6:]}"
