"""A typed walk over a resource for the national rules: every complex value with its FHIR type,
its element definition and the exact ``expression``.

The element model is the R4 definitions (``ehr_core.definitions.structures``); JSON property
names map to elements as in https://hl7.org/fhir/R4/json.html (choice elements carry the type
in the name, ``valueReference``). Structure errors are the StructureValidator's job: anything
the walk does not understand is skipped silently.
"""
from __future__ import annotations

from dataclasses import dataclass

from ehr_core.definitions import structures


@dataclass(slots=True)
class Visit:
    """One complex value: ``type`` is a datatype name, or a resource type for resources."""

    type: str
    value: dict
    expr: str
    element: str                   # definition path, "Observation.subject"
    targets: tuple[str, ...]       # Reference target types ("Resource" = any)
    resource: dict                 # the resource the value is in
    resource_expr: str
    root: dict                     # the outermost container (for "#id" references)


# What kind of value a property holds.
DATATYPE, BACKBONE, RESOURCE = 1, 2, 3
# Quantity and its R4 specialisations (their units are UCUM-checked).
QUANTITIES = frozenset({"Quantity", "Age", "Count", "Distance", "Duration"})
# The datatypes the national rules look at; other values are only walked through.
INTERESTING = frozenset({"Identifier", "Coding", "Reference", "Narrative", "Attachment", "Extension",
                         *QUANTITIES})

# (element definition path, FHIR type, reference targets, kind, node to recurse into)
Prop = tuple[str, str, tuple[str, ...], int, "tuple[str, str] | None"]
_PROPS: dict[tuple[str, str], dict[str, Prop]] = {}


def properties(type_name: str, parent: str) -> dict[str, Prop]:
    """JSON property -> Prop for the object at ``parent`` inside ``type_name`` (primitives left out)."""
    key = (type_name, parent)
    found = _PROPS.get(key)
    if found is None:
        found = _PROPS[key] = _properties(type_name, parent)
    return found


def _properties(type_name: str, parent: str) -> dict[str, Prop]:
    sd = structures()[type_name]
    elements = sd["elements"]
    prefix = parent + "." if parent else ""
    out: dict[str, Prop] = {}
    for path, el in elements.items():
        if not path.startswith(prefix) or "." in path[len(prefix):] or not path:
            continue
        segment = path[len(prefix):]
        definition = f"{type_name}.{path}"
        if "ref" in el:
            rtype, _, rpath = el["ref"].partition(".")
            out[segment] = (definition, "BackboneElement", (), BACKBONE, (rtype, rpath))
            continue
        backbone = any(p.startswith(path + ".") for p in elements)
        for t in el.get("types", []):
            code = t[0]
            targets = tuple(t[1]) if len(t) > 1 and t[1] else ()
            name = segment[:-3] + code[0].upper() + code[1:] if segment.endswith("[x]") else segment
            kind = structures()[code]["kind"] if code in structures() else "primitive-type"
            if backbone:
                out[name] = (definition, code, targets, BACKBONE, (type_name, path))
            elif kind == "resource":
                out[name] = (definition, code, targets, RESOURCE, None)
            elif kind == "complex-type":
                out[name] = (definition, code, targets, DATATYPE, (code, ""))
    return out


def is_resource_type(name: str) -> bool:
    sd = structures().get(name)
    return sd is not None and sd["kind"] == "resource"


def walk(resource: dict, expr: str) -> list[Visit]:
    """The resources (outermost first) and the INTERESTING datatype values, in document order."""
    out: list[Visit] = []
    _resource(resource, expr, None, out)
    return out


def _resource(resource: dict, expr: str, root: dict | None, out: list[Visit]) -> None:
    rtype = resource.get("resourceType")
    if type(rtype) is not str or not is_resource_type(rtype) or structures()[rtype]["abstract"]:
        return
    root = root or resource
    out.append(Visit(rtype, resource, expr, rtype, (), resource, expr, root))
    _object(resource, rtype, "", expr, resource, expr, root, out)


def _object(obj: dict, type_name: str, parent: str, expr: str, resource: dict, rexpr: str,
            root: dict, out: list[Visit]) -> None:
    props = properties(type_name, parent)
    for key, value in obj.items():
        prop = props.get(key)
        if prop is None:
            continue
        definition, code, targets, kind, node = prop
        if type(value) is list:
            items = enumerate(value)
            base = f"{expr}.{key}["
        else:
            items = ((None, value),)
            base = f"{expr}.{key}"
        for i, item in items:
            if type(item) is not dict:
                continue
            where = base if i is None else f"{base}{i}]"
            if kind == RESOURCE:
                _resource(item, where, root if key == "contained" else None, out)
                continue
            if kind == DATATYPE and code in INTERESTING:
                out.append(Visit(code, item, where, definition, targets, resource, rexpr, root))
            _object(item, node[0], node[1], where, resource, rexpr, root, out)  # type: ignore[index]
