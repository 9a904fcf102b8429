"""fhirpathpy for the expressions the native evaluator (``pathexpr``) does not implement.

Compiled once per expression. Results are typed from fhirpathpy's own R4 model (a result node's
``path`` is its FHIR type, or the element path of a backbone element), so the indexer sees the
same ``(value, ElementType)`` items as from a native expression. fhirpathpy has no ``resolve()``,
and it is orders of magnitude slower: see ``IndexExtractor.stats`` for how many expressions use it.
"""
from __future__ import annotations

from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import FP_Type, ResourceNode
from fhirpathpy.models import models

from ehr_core.search.elements import ElementType, element_type, inline_type, is_known_type
from ehr_core.search.pathexpr import CompiledPath, Item
from ehr_core.search.registry import split_union

_PYTHON_TYPES = {bool: "boolean", int: "integer", float: "decimal", str: "string"}


def compile_fhirpathpy(expression: str) -> CompiledPath:
    """Compile with fhirpathpy; raises whatever fhirpathpy raises for an expression it cannot parse.

    A top-level union is compiled part by part: fhirpathpy's ``|`` drops the type information.
    """
    options = {"returnRawData": True}
    parts = [fhirpathpy.compile(part, model=models["r4"], options=options) for part in split_union(expression)]

    def evaluate(value: Any, type_: ElementType) -> list[Item]:
        return [item for fn in parts for node in fn(value, None) if (item := _typed(node)) is not None]

    return CompiledPath(expression, evaluate, entry_names=None, native=False)


def _typed(node: Any) -> Item | None:
    if isinstance(node, ResourceNode):
        data, path = node.data, node.path or ""
        if data is None:
            return None
        if isinstance(data, FP_Type):
            data = str(data)
        if is_known_type(path):
            return data, element_type(path)
        root, _, rest = path.partition(".")
        if rest and is_known_type(root):
            return data, inline_type("BackboneElement", root, rest)
        return _by_python_type(data)
    if isinstance(node, FP_Type):
        return str(node), element_type("string")
    return _by_python_type(node)


def _by_python_type(value: Any) -> Item | None:
    name = _PYTHON_TYPES.get(value.__class__)
    return (value, element_type(name)) if name else None
