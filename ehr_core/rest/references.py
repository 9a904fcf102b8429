"""Finding and rewriting references inside a resource, wherever they are.

A reference is any ``reference`` string property of a JSON object — in elements, extensions and
contained resources alike — so the walk is generic rather than driven by element definitions.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator


def iter_references(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                yield v
            elif isinstance(v, (dict, list)):
                yield from iter_references(v)
    elif isinstance(node, list):
        for item in node:
            yield from iter_references(item)


def rewrite_references(node: object, replace: Callable[[str], str | None]) -> None:
    """Replace, in place, every reference for which ``replace`` returns a new value."""
    # Exact type tests, lists walked here: this runs over every element of every resource
    # of a transaction (parsed JSON only has plain dicts and lists).
    if type(node) is list:
        for item in node:
            if type(item) is dict or type(item) is list:
                rewrite_references(item, replace)
        return
    if type(node) is not dict:
        return
    for k, v in node.items():
        t = type(v)
        if t is str:
            if k == "reference":
                new = replace(v)
                if new is not None:
                    node[k] = new
        elif t is dict or t is list:
            rewrite_references(v, replace)
