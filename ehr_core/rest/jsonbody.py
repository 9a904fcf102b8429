"""Strict JSON intake for request bodies (bad-inputs.md #1–#3).

``json`` from the standard library is used (not orjson) because it can reject what FHIR JSON
forbids and orjson silently accepts: duplicate keys (last one wins) and NaN/Infinity/1e400.
"""
from __future__ import annotations

import json
import math

from ehr_core import errors


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _Duplicate(k)
        out[k] = v
    return out


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number out of range: {text}")
    return value


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in FHIR JSON")


def parse_json(body: bytes) -> object:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise errors.bad_request(f"The body is not UTF-8 (byte {exc.start})", rule="json-encoding") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_float=_finite,
                          parse_constant=_reject_constant)
    except _Duplicate as exc:
        raise errors.bad_request(f"Property {exc.args[0]!r} appears twice in one JSON object",
                                 rule="json-duplicate-key") from None
    except json.JSONDecodeError as exc:
        raise errors.bad_request(f"Malformed JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                                 rule="json-syntax") from None
    except (ValueError, RecursionError) as exc:
        raise errors.bad_request(f"Invalid JSON: {exc}", rule="json-value") from None
