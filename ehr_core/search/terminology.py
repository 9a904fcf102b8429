"""Token searches that need a terminology (search.html#token): ``:in`` and ``:not-in`` (the codes
of a ValueSet), ``:below`` and ``:above`` (a code with its descendants or its ancestors in the
code system's hierarchy, e.g. an ICD-10 category and its subcategories).

The search core has no classifiers of its own; the national terminology service
(``adapters/terminology``) is plugged in here by ``ehr_core/service.py``. Each modifier becomes
an ordinary list of ``system|code`` values, so it runs as the same indexed SQL as
``code=a,b,c`` (``:not-in`` as ``:not``).
"""
from __future__ import annotations

from typing import Protocol

from ehr_core import errors
from ehr_core.search.query_values import TokenValue

MODIFIERS = ("in", "not-in", "below", "above")
MAX_CODES = 5_000   # a larger expansion would make one huge IN list: refuse it clearly


class CodeSource(Protocol):
    def value_set_codes(self, url: str) -> list[tuple[str, str]]:
        """Every (system, code) of the value set; LookupError when it is unknown."""

    def related_codes(self, system: str, code: str, direction: str) -> list[str]:
        """``code`` with its descendants ("below") or ancestors ("above"); LookupError when the
        system or code is unknown."""


source: CodeSource | None = None


def expand(param: str, modifier: str, texts: list[str]) -> tuple[str | None, tuple[TokenValue, ...]]:
    """(the modifier the SQL applies — None or "not" —, the values) for ``param:modifier=texts``."""
    if source is None:
        raise errors.bad_request(f"Modifier :{modifier} on {param} needs a terminology; none is configured",
                                 code="not-supported")
    values: list[TokenValue] = []
    for text in texts:
        try:
            if modifier in ("in", "not-in"):
                values += [TokenValue(system, code) for system, code in source.value_set_codes(text)]
            else:
                system, sep, code = text.partition("|")
                if not sep or not system or not code:
                    raise errors.bad_request(f"{param}:{modifier} takes system|code, not {text!r}")
                values += [TokenValue(system, c) for c in source.related_codes(system, code, modifier)]
        except LookupError as exc:
            raise errors.bad_request(f"{param}:{modifier}={text}: {exc}", code="not-found") from None
        if len(values) > MAX_CODES:
            raise errors.bad_request(f"{param}:{modifier}={text} stands for more than {MAX_CODES} codes; "
                                     "narrow the value set or the code", code="too-costly")
    if not values:   # an empty value set matches nothing (and :not-in of it, everything)
        values = [TokenValue("", "")]
    return ("not" if modifier == "not-in" else None), tuple(dict.fromkeys(values))
