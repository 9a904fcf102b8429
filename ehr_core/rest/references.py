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
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "reference" and isinstance(v, str):
                new = replace(v)
                if new is not None:
                    node[k] = new
            elif isinstance(v, (dict, list)):
                rewrite_references(v, replace)
    elif isinstance(node, list):
        for item in node:
            rewrite_references(item, replace)
