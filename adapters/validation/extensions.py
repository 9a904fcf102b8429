"""The rules every Extension obeys, checked natively on the walk.

https://hl7.org/fhir/R4/extensibility.html#Extension — ext-1: an extension has either a value[x]
or nested extensions, never both and never neither; ``url`` names the extension's definition
and is absolute, except for the parts of a complex extension, whose url may be the part name.
"""
from __future__ import annotations

import re

from ehr_core.errors import Issue

from .messages import issue

_ABSOLUTE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")


def check_extension(ext: dict, expr: str, absolute_url: bool, issues: list[Issue]) -> None:
    has_value = any(key[:5] == "value" for key in ext)
    has_parts = "extension" in ext
    if has_value and has_parts:
        issues.append(issue("ext-1", expr, problem="it has both", problem_lv="tam ir abi"))
    elif not has_value and not has_parts:
        issues.append(issue("ext-1", expr, problem="it has neither", problem_lv="tam nav neviena"))
    url = ext.get("url")
    if absolute_url and type(url) is str and url and not _ABSOLUTE.match(url):
        issues.append(issue("struct-extension-url", f"{expr}.url", url=url))


_CONTEXT = re.compile(r"[A-Z][A-Za-z]*(\.[a-z][A-Za-z]*(\[x\])?)*")


def judgeable(contexts: list[str]) -> bool:
    """Element contexts we can decide: type names and element paths (not FHIRPath expressions)."""
    return bool(contexts) and all(_CONTEXT.fullmatch(c) for c in contexts)


def context_allows(contexts: list[str], owner: str, rooted: str, is_a) -> bool:  # noqa: ANN001
    """May an extension with these element ``contexts`` (extensibility.html#context) sit on
    the element ``owner`` (its definition path: a type name such as ``HumanName``/``Patient``, or
    ``Patient.contact``) reached at ``rooted`` (the path from the resource: ``Patient.name``)?
    ``is_a(type, ancestor)`` answers type inheritance (``Patient`` is a ``DomainResource``)."""
    for c in contexts:
        if c in (owner, rooted) or ("[x]" in c and _choice_matches(c, rooted)):
            return True
        if "." not in c and ("." in owner and c in ("Element", "BackboneElement")
                             or "." not in owner and is_a(owner, c)):
            return True
    return False


def _choice_matches(context: str, rooted: str) -> bool:
    stem = context[:-3]
    return rooted.startswith(stem) and rooted[len(stem):len(stem) + 1].isupper() and "." not in rooted[len(stem):]
