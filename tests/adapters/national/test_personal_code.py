"""The personal-code module: worked examples from personal-code.md, each failure rule, and junk."""
from __future__ import annotations

import doctest
from datetime import date

import pytest

from adapters.national import personal_code as pc


def test_doctests():
    assert doctest.testmod(pc).failed == 0


@pytest.mark.parametrize("code,rule", [
    ("16117519998", "check-digit"),
    ("161175-1999", "format"),
    ("301302-10000", "date"),        # 30 February
    ("161175-39997", "century"),
])
def test_each_rule_is_named(code, rule):  # noqa: ANN001
    with pytest.raises(pc.PersonalCodeError) as err:
        pc.validate(code)
    assert err.value.rule == rule


def test_legacy_after_2017_is_checked_before_check_digit_only_when_digit_is_right():
    digits = "010118200"
    code = digits + "0" + str(pc.check_digit(digits + "00"))   # a code dated 2018 with a good check digit
    with pytest.raises(pc.PersonalCodeError) as err:
        pc.validate(code)
    assert err.value.rule in ("legacy-after-2017", "check-digit")


def test_new_format_check_digit_is_a_warning_by_default():
    assert pc.validate("32867300679") == "32867300679"
    assert pc.warnings("32867300679") == []
    assert pc.warnings("32867300670")
    assert pc.is_valid("32867300670")
    with pytest.raises(pc.PersonalCodeError):
        pc.validate("32867300670", strict_new_check_digit=True)


def test_century_and_birth_date():
    assert pc.birth_date("161175-19997") == date(1975, 11, 16)
    digits = "0101000"
    code = digits + "000"
    code += str(pc.check_digit(code))
    assert pc.birth_date(code) == date(1800, 1, 1)


@pytest.mark.parametrize("junk", ["", " ", "abc", "-", "1" * 30, "１６１１７５-１９９９７", "16.11.75-19997"])
def test_junk_never_crashes(junk):  # noqa: ANN001
    assert pc.is_valid(junk) is False
    with pytest.raises(pc.PersonalCodeError):
        pc.validate(junk)
