"""Required terminology bindings, for the value sets we can enumerate offline.

https://hl7.org/fhir/R4/terminologies.html#required — a ``code`` must be in the value set; a
Coding is checked only when its system is the value set's own (other systems are a terminology
server's business), and a value set we could not enumerate is skipped, never guessed.
The member lists come from ``r4-required-codes.json`` (see ``tools/build_definitions.py``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from ehr_core.definitions import DATA
from ehr_core.errors import Issue

from .messages import issue


@dataclass(frozen=True, slots=True)
class ValueSetCodes:
    url: str
    system: str | None              # None when the members come from several code systems
    codes: frozenset[str]


@lru_cache(maxsize=None)
def required_value_sets() -> dict[str, ValueSetCodes]:
    raw = json.loads((DATA / "r4-required-codes.json").read_text())
    return {url: ValueSetCodes(url, vs["system"], frozenset(vs["codes"])) for url, vs in raw.items()}


def required_binding(binding: list[str] | None) -> ValueSetCodes | None:
    """The enumerable value set behind a compact ``[strength, url|version]`` binding, if required."""
    if not binding or binding[0] != "required":
        return None
    return required_value_sets().get(binding[1].split("|", 1)[0])


def check_code(code: str, vs: ValueSetCodes, expression: str, issues: list[Issue]) -> None:
    if code not in vs.codes:
        issues.append(issue("binding-required", expression, code=code, value_set=vs.url))


def check_coding(coding: Any, vs: ValueSetCodes, expression: str, issues: list[Issue]) -> None:
    if vs.system is None or type(coding) is not dict or coding.get("system") != vs.system:
        return
    code = coding.get("code")
    if type(code) is str:
        check_code(code, vs, f"{expression}.code", issues)


def check_codeable_concept(concept: Any, vs: ValueSetCodes, expression: str, issues: list[Issue]) -> None:
    codings = concept.get("coding") if type(concept) is dict else None
    if type(codings) is list:
        for i, coding in enumerate(codings):
            check_coding(coding, vs, f"{expression}.coding[{i}]", issues)
