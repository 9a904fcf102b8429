"""The R4 element model as the path evaluator needs it: which JSON keys a child name maps to, and
which type each of them carries.

https://hl7.org/fhir/R4/json.html — a choice element ``value[x]`` appears in JSON as
``valueQuantity``, ``valueString``, ...; its type is the suffix. Backbone elements are described
inside their owning structure (``Observation.component.code``), data types by their own structure
(``Quantity.value``), ``contentReference`` elements by the element they point to
(``Questionnaire.item.item`` -> ``Questionnaire.item``). Everything comes from
``ehr_core.definitions.structures()``; nothing is listed by hand.
"""
from __future__ import annotations

from functools import lru_cache

from ehr_core import definitions

# Element types that are described inline by their owning structure, not by a structure of their own.
_INLINE = frozenset({"BackboneElement", "Element"})
# Element types whose concrete type is the value's ``resourceType`` (contained, Bundle.entry.resource).
ABSTRACT_RESOURCES = frozenset({"Resource", "DomainResource"})


class ElementType:
    """One node type of the model: a structure (``Quantity``, ``Patient``) or an inline element.

    ``name`` is the FHIR type code (``BackboneElement`` for inline elements); ``root`` and ``path``
    locate the element definitions that describe its children.
    """

    __slots__ = ("name", "root", "path", "is_abstract_resource", "_children", "_is_a")

    def __init__(self, name: str, root: str, path: str):
        self.name = name
        self.root = root
        self.path = path
        # True for ``Resource``: the concrete type is the value's ``resourceType``.
        self.is_abstract_resource = name in ABSTRACT_RESOURCES
        self._children: dict[str, tuple[tuple[str, ElementType], ...]] = {}
        self._is_a: dict[str, bool] = {}

    def __repr__(self) -> str:
        return f"ElementType({self.name}, {self.root}.{self.path})" if self.path else f"ElementType({self.name})"

    def children(self, name: str) -> tuple[tuple[str, ElementType], ...]:
        """(JSON key, type) for each way child ``name`` can appear; one per type for a choice."""
        found = self._children.get(name)
        if found is None:
            found = self._children[name] = _children(self.root, self.path, name)
        return found

    def is_a(self, type_name: str) -> bool:
        """FHIRPath ``is``: the type itself or one of its bases (``Age`` is a ``Quantity``)."""
        found = self._is_a.get(type_name)
        if found is None:
            found = self._is_a[type_name] = type_name in _lineage(self.name)
        return found


@lru_cache(maxsize=None)
def element_type(type_name: str) -> ElementType:
    """The type of a structure (resource, data type or primitive) by its name."""
    return ElementType(type_name, type_name, "")


@lru_cache(maxsize=None)
def inline_type(type_name: str, root: str, path: str) -> ElementType:
    return ElementType(type_name, root, path)


def is_known_type(type_name: str) -> bool:
    return type_name in definitions.structures()


@lru_cache(maxsize=None)
def _lineage(type_name: str) -> frozenset[str]:
    names, structures = set(), definitions.structures()
    current: str | None = type_name
    while current and current not in names:
        names.add(current)
        current = (structures.get(current) or {}).get("base")
    return frozenset(names)


def _definition(root: str, path: str) -> dict | None:
    return (definitions.structures().get(root) or {}).get("elements", {}).get(path)


def _children(root: str, path: str, name: str) -> tuple[tuple[str, ElementType], ...]:
    child = f"{path}.{name}" if path else name
    el = _definition(root, child)
    if el is not None:
        if "ref" in el:                                  # contentReference: "Questionnaire.item"
            ref_root, _, ref_path = el["ref"].partition(".")
            return ((name, inline_type("BackboneElement", ref_root, ref_path)),)
        types = el.get("types") or ()
        if len(types) != 1:
            return ()
        return ((name, _typed(types[0][0], root, child)),)
    el = _definition(root, child + "[x]")
    if el is None:
        return ()
    return tuple((name + t[0][0].upper() + t[0][1:], _typed(t[0], root, child + "[x]"))
                 for t in el.get("types") or ())


def _typed(code: str, root: str, path: str) -> ElementType:
    if code in _INLINE:
        return inline_type(code, root, path)
    return element_type(code)
