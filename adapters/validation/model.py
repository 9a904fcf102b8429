"""The R4 element model as lookup tables, built once from the compact StructureDefinitions.

https://hl7.org/fhir/R4/elementdefinition.html and https://hl7.org/fhir/R4/json.html

A ``Node`` is one kind of JSON object: a resource, a complex datatype, or a BackboneElement
inside a resource (``Observation.component``). Its ``children`` map each JSON property name to a
``Child`` carrying everything the walker needs without further lookups: cardinality, whether
the JSON form is an array, the primitive checker or the node to recurse into, the required
value set, the invariants. Choice elements are expanded here (``value[x]`` becomes
``valueQuantity``, ``valueString``...), so finding a property is one dict lookup.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from .bindings import ValueSetCodes, required_binding
from .primitives import Checker, checker_for

PRIMITIVE, COMPLEX, RESOURCE = 0, 1, 2

# Compiles one constraint ``(key, severity, expression, human)`` into something the invariant
# pass can run, or returns None for constraints it leaves out.
InvariantCompiler = Callable[[list[str]], Any]


class Child:
    """One JSON property of a Node (for a choice element: one of its type variants)."""

    __slots__ = ("name", "path", "min", "max", "array", "kind", "type", "node", "check",
                 "choice", "value_set", "invariants", "absolute_url")

    def __init__(self, name: str, path: str, element: dict, kind: int, type_name: str):
        self.name = name                    # JSON property: "valueQuantity"
        self.path = path                    # definition path for messages: "Observation.value[x]"
        self.min: int = element["min"]
        self.max: int | None = None if element["max"] == "*" else int(element["max"])
        self.array = element["max"] != "1"  # json.html: repeating elements are always arrays
        self.kind = kind
        self.type = type_name
        self.node: Node | None = None       # COMPLEX: the node to recurse into
        self.check: Checker | None = None   # PRIMITIVE: the value checker
        self.choice: str | None = None      # "value" for the variants of value[x]
        self.value_set: ValueSetCodes | None = None
        self.invariants: tuple = ()         # element-level constraints beyond the type's own
        # Extension.url must be absolute, except in the parts of a complex extension
        # (extensibility.html#Extension: nested urls may be the bare part name).
        self.absolute_url = True


class Node:
    """One kind of JSON object and the properties it may have."""

    __slots__ = ("name", "children", "required", "choices", "invariants", "is_resource",
                 "is_extension")

    def __init__(self, name: str, *, is_resource: bool = False):
        self.name = name                    # "Patient", "Patient.contact", "HumanName"
        self.children: dict[str, Child] = {}
        # (definition path, path segment, JSON names that satisfy it, min): checked per object
        self.required: tuple[tuple[str, str, tuple[str, ...], int], ...] = ()
        # choice base -> (definition path, allowed type codes), to explain a wrong suffix
        self.choices: dict[str, tuple[str, tuple[str, ...]]] = {}
        self.invariants: tuple = ()
        self.is_resource = is_resource
        self.is_extension = name == "Extension"


class Model:
    """All nodes of R4, plus the facts about types the walker asks for."""

    def __init__(self, structures: dict[str, dict], compile_invariant: InvariantCompiler | None = None):
        self._structures = structures
        self._compile = compile_invariant
        self.checkers: dict[str, Checker] = {
            name: checker_for(name, sd.get("regex"))
            for name, sd in structures.items() if sd["kind"] == "primitive-type"
        }
        # Resource.id is an ``id`` (resource.html#id); the snapshot says System.String.
        self.resource_id_check = self.checkers["id"]
        self.nodes: dict[tuple[str, str], Node] = {}
        for name, sd in structures.items():
            if sd["kind"] != "primitive-type":
                self._declare(name, sd)
        for name, sd in structures.items():
            if sd["kind"] != "primitive-type":
                self._fill(name, sd)
        self.resources: dict[str, Node] = {
            name: self.nodes[(name, "")] for name, sd in structures.items()
            if sd["kind"] == "resource" and not sd["abstract"]
        }
        self.element = self.nodes[("Element", "")]   # what a primitive's ``_name`` sibling holds

    def is_abstract_resource(self, name: str) -> bool:
        sd = self._structures.get(name)
        return sd is not None and sd["kind"] == "resource" and sd["abstract"]

    def is_a(self, name: str, ancestor: str) -> bool:
        while name:
            if name == ancestor:
                return True
            name = self._structures[name]["base"] or ""
        return False

    # --- building -----------------------------------------------------------------------
    def _declare(self, type_name: str, sd: dict) -> None:
        """Create the empty nodes of a type first, so children can point to any of them."""
        is_resource = sd["kind"] == "resource"
        parents = {path.rpartition(".")[0] for path in sd["elements"] if path}
        for path in parents:
            name = f"{type_name}.{path}" if path else type_name
            self.nodes[(type_name, path)] = Node(name, is_resource=is_resource and not path)

    def _fill(self, type_name: str, sd: dict) -> None:
        elements = sd["elements"]
        by_parent: dict[str, list[str]] = defaultdict(list)
        for path in elements:
            if path:
                by_parent[path.rpartition(".")[0]].append(path)
        for parent, paths in by_parent.items():
            node = self.nodes[(type_name, parent)]
            node.invariants = self._invariants(elements.get(parent, {}))
            required = []
            for path in paths:
                children = self._children(type_name, sd, path, elements[path])
                for child in children:
                    node.children[child.name] = child
                    child.absolute_url = not node.is_extension
                    if child.choice is not None:
                        allowed = tuple(c.type for c in children)
                        node.choices[child.choice] = (child.path, allowed)
                if elements[path]["min"] > 0:
                    names = tuple(c.name for c in children)
                    names += tuple("_" + c.name for c in children if c.kind == PRIMITIVE)
                    segment = path.rpartition(".")[2]
                    required.append((children[0].path, segment, names, elements[path]["min"]))
            node.required = tuple(required)

    def _children(self, type_name: str, sd: dict, path: str, element: dict) -> list[Child]:
        segment = path.rpartition(".")[2]
        definition_path = f"{type_name}.{path}"
        if "ref" in element:       # contentReference: Questionnaire.item.item -> Questionnaire.item
            ref_type, _, ref_path = element["ref"].partition(".")
            child = Child(segment, definition_path, element, COMPLEX, element["ref"])
            child.node = self.nodes[(ref_type, ref_path)]
            return [child]
        codes = [t[0] for t in element.get("types", [])]
        if segment.endswith("[x]"):
            base = segment[:-3]
            children = [self._child(base + code[0].upper() + code[1:], definition_path, element,
                                    type_name, path, code) for code in codes]
            for child in children:
                child.choice = base
            return children
        child = self._child(segment, definition_path, element, type_name, path, codes[0])
        if sd["kind"] == "resource" and path == "id":
            child.check = self.resource_id_check
            child.type = "id"
        return [child]

    def _child(self, name: str, definition_path: str, element: dict, type_name: str, path: str,
               code: str) -> Child:
        target = self._structures[code]
        if (type_name, path) in self.nodes:          # a BackboneElement (or Element) with children
            child = Child(name, definition_path, element, COMPLEX, definition_path)
            child.node = self.nodes[(type_name, path)]
        elif target["kind"] == "primitive-type":
            child = Child(name, definition_path, element, PRIMITIVE, code)
            child.check = self.checkers[code]
            child.invariants = self._invariants(element)
        elif target["kind"] == "resource":
            child = Child(name, definition_path, element, RESOURCE, code)
        else:
            child = Child(name, definition_path, element, COMPLEX, code)
            child.node = self.nodes[(code, "")]
            # The type's own constraints run on its node; only add what the element adds.
            own = {c[0] for c in target["elements"][""].get("constraints", [])}
            child.invariants = self._invariants(element, skip=own)
        child.value_set = required_binding(element.get("binding"))
        return child

    def _invariants(self, element: dict, skip: set[str] = frozenset()) -> tuple:  # type: ignore[assignment]
        if self._compile is None:
            return ()
        compiled = (self._compile(c) for c in element.get("constraints", ()) if c[0] not in skip)
        return tuple(c for c in compiled if c is not None)
