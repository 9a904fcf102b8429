"""UCUM validity (https://ucum.org/ucum): a unit is valid when the UCUM grammar derives it from the
atoms and prefixes of the UCUM essence. The grammar and atom tables are ucumvert's (MIT, UCUM
essence 2.2); the parser is built once, on first use (~0.3 s).

>>> is_valid("/min"), is_valid("mm[Hg]"), is_valid("{beats}/min"), is_valid("beats/min")
(True, True, True, False)
"""
from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=1)
def _parser():  # noqa: ANN202
    from ucumvert import get_ucum_parser
    return get_ucum_parser()


@lru_cache(maxsize=4096)
def is_valid(unit: str) -> bool:
    from lark.exceptions import LarkError
    if not unit or unit != unit.strip():
        return False
    try:
        _parser().parse(unit)
    except LarkError:
        return False
    return True
