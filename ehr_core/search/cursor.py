"""Opaque paging cursors: the sort-key values of the row a page starts after (or ends before).

Keyset paging (rather than offsets) keeps ``next``/``previous`` links correct while resources are
created or deleted between page requests: a page always continues from the last row seen, by
the same keys the results are ordered on (the ``_sort`` keys, then resource type and id).
https://hl7.org/fhir/R4/http.html#paging leaves the paging parameter to the server.
"""
from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass

import orjson

from ehr_core import errors

FORWARD, BACKWARD = "n", "p"


@dataclass(frozen=True)
class Cursor:
    direction: str                 # FORWARD: rows after ``keys``; BACKWARD: rows before them
    keys: tuple[object, ...]       # sort-key values, then resource type and id
    order: str                     # fingerprint of the ordering the keys belong to


def order_fingerprint(sort_spec: str) -> str:
    return hashlib.blake2b(sort_spec.encode(), digest_size=4).hexdigest()


def encode(cursor: Cursor) -> str:
    raw = orjson.dumps({"d": cursor.direction, "k": list(cursor.keys), "o": cursor.order})
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(text: str, expected_order: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        data = orjson.loads(raw)
        cursor = Cursor(data["d"], tuple(data["k"]), data["o"])
        if cursor.direction not in (FORWARD, BACKWARD) or not isinstance(data["k"], list):
            raise ValueError
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise errors.bad_request(f"_cursor={text!r} is not a cursor this server issued") from None
    if cursor.order != expected_order:
        raise errors.bad_request("_cursor belongs to a search with another _sort; start again from the first page")
    return cursor
