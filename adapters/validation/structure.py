"""One pass over the parsed JSON of a resource, checking it against the R4 element model.

https://hl7.org/fhir/R4/json.html (JSON form), https://hl7.org/fhir/R4/elementdefinition.html
(cardinality, types), https://hl7.org/fhir/R4/formats.html#choice (choice elements).

The walk reports every problem it finds rather than stopping at the first, and on the way it
notes the places where invariants apply ("sites"), so the FHIRPath pass need not walk again.
Nothing is copied or modified: the walk only reads the caller's dicts and lists.
"""
from __future__ import annotations

import re
from typing import Any

from ehr_core.errors import Issue

from . import bindings, resource_rules
from .extensions import check_extension, context_allows, core_contexts
from .messages import issue, type_issue
from .model import COMPLEX, PRIMITIVE, Child, Model, Node
from .options import DEFAULT, EXAMPLE_HOST, HTML_TAG, ValidationOptions
from .primitives import Problem

# A site where invariants are evaluated: (invariants, value, FHIR type name, expression,
# %resource, %rootResource).
Site = tuple[tuple, Any, str, str, dict, dict]


class StructureWalk:
    """The state of one validation call (the model itself is shared and read-only)."""

    __slots__ = ("model", "issues", "sites", "collect", "resource", "root", "document", "partial", "_anchors",
                 "resource_expr", "primitive_owner", "options")

    def __init__(self, model: Model, *, collect_sites: bool, partial: bool = False,
                 options: ValidationOptions = DEFAULT):
        self.model = model
        self.options = options
        self.issues: list[Issue] = []
        self.sites: list[Site] = []
        self.collect = collect_sites
        self.resource: dict = {}        # %resource: the resource the current element is in
        self.root: dict = {}            # %rootResource: the container of a contained resource
        self.document: dict | None = None   # the outermost resource (a document Bundle, say)
        # Validating one entry of a Bundle alone: the rest of the document is not in view.
        self.partial = partial
        self._anchors: frozenset | None = None
        self.resource_expr = ""         # the expression of %resource ("Bundle.entry[2].resource")
        self.primitive_owner = ""       # in a primitive's "_name": its definition ("HumanName.family")

    def anchors(self) -> frozenset | None:
        """The id/name anchors of every narrative in the outermost resource (for #links), or
        None when only part of the document is being validated."""
        if self.partial:
            return None
        if self._anchors is None:
            self._anchors = resource_rules.anchors_in(self.document)
        return self._anchors

    # --- resources ----------------------------------------------------------------------
    def resource_at(self, obj: dict, expr: str, expected: str | None = None,
                    element: str | None = None, contained: bool = False) -> None:
        """A resource: top level, contained, or in Bundle.entry.resource / Parameters."""
        rtype = obj.get("resourceType")
        if rtype is None:
            self.issues.append(issue("struct-resource-type-missing", expr))
            return
        node = self.model.resources.get(rtype) if type(rtype) is str else None
        if node is None:
            if type(rtype) is str and self.model.is_abstract_resource(rtype):
                self.issues.append(issue("struct-resource-type-abstract", f"{expr}.resourceType", found=rtype))
            else:
                self.issues.append(issue("struct-resource-type-unknown", f"{expr}.resourceType", found=rtype))
            return
        if expected is not None and not self.model.is_a(rtype, expected):
            self.issues.append(issue("struct-resource-type-mismatch", expr, element=element,
                                     expected=expected, found=rtype))
        outer = self.resource, self.root, self.resource_expr
        if self.document is None:
            self.document = obj
        self.resource = obj
        self.resource_expr = expr
        if not contained:           # a contained resource's %rootResource is its container
            self.root = obj
        self.object(obj, node, expr)
        if rtype in resource_rules.RULES:
            resource_rules.RULES[rtype](obj, expr, self.issues, self.anchors)
        self.resource, self.root, self.resource_expr = outer

    # --- objects ------------------------------------------------------------------------
    def object(self, obj: dict, node: Node, expr: str) -> None:
        children = node.children
        issues = self.issues
        chosen: dict[str, str] | None = None
        for key, value in obj.items():
            child = children.get(key)
            if child is None:
                self.stray(obj, key, value, node, expr)
                continue
            if child.choice is not None:
                if chosen is None:
                    chosen = {child.choice: key}
                elif child.choice in chosen:
                    issues.append(_two_choices(expr, child, chosen[child.choice], key))
                else:
                    chosen[child.choice] = key
            sub = f"{expr}.{key}"
            if value is None:
                issues.append(issue("struct-null", sub))
            elif child.array:
                if type(value) is not list:
                    issues.append(issue("struct-array-expected", sub, element=child.path))
                    self.value(value, child, sub)
                elif not value:
                    issues.append(issue("struct-empty", sub, json="[]"))
                else:
                    if child.max is not None and len(value) > child.max:
                        issues.append(issue("struct-cardinality-max", sub, element=child.path,
                                            max=child.max, count=len(value)))
                    self.items(obj, key, value, child, sub)
            elif type(value) is list:
                issues.append(issue("struct-array-unexpected", sub, element=child.path))
                if len(value) > 1:
                    issues.append(issue("struct-cardinality-max", sub, element=child.path,
                                        max=1, count=len(value)))
                self.items(obj, key, value, child, sub)
            elif child.kind == PRIMITIVE:
                self.primitive(value, child, sub)
            else:
                self.value(value, child, sub)
        for path, segment, names, minimum in node.required:
            for name in names:
                if name in obj:
                    break
            else:
                issues.append(issue("struct-cardinality-min", f"{expr}.{segment}", element=path, min=minimum))
        if node.invariants and self.collect:
            self.sites.append((node.invariants, obj, node.name, expr, self.resource, self.root))

    def items(self, obj: dict, key: str, values: list, child: Child, expr: str) -> None:
        if child.kind == PRIMITIVE:
            for i, value in enumerate(values):
                if value is None:
                    # json.html#primitive: a null keeps a repeating primitive aligned with
                    # its "_name" sibling, and is only allowed where that sibling has content.
                    if not _has_extension_at(obj, key, i):
                        self.issues.append(issue("struct-null", f"{expr}[{i}]"))
                else:
                    self.primitive(value, child, f"{expr}[{i}]")
            return
        for i, value in enumerate(values):
            if value is None:
                self.issues.append(issue("struct-null", f"{expr}[{i}]"))
            else:
                self.value(value, child, f"{expr}[{i}]")

    def value(self, value: Any, child: Child, expr: str) -> None:
        kind = child.kind
        if kind == PRIMITIVE:
            self.primitive(value, child, expr)
        elif type(value) is not dict:
            self.issues.append(type_issue(expr, child.path, child.type, "object", value))
        elif not value:
            self.issues.append(issue("struct-empty", expr, json="{}"))
        elif kind == COMPLEX:
            node = child.node
            if len(value) == 1 and "id" in value:
                self.issues.append(issue("ele-1", expr))
            self.object(value, node, expr)  # type: ignore[arg-type]
            if node.is_extension:  # type: ignore[union-attr]
                check_extension(value, expr, child.absolute_url, self.issues)
                url = value.get("url")
                if type(url) is str and url in core_contexts():
                    self.extension_context(url, child, expr)
                    if url == resource_rules.NARRATIVE_LINK:
                        resource_rules.narrative_link(value, expr, self.issues, self.anchors)
            elif node.name in resource_rules.RULES:  # type: ignore[union-attr]
                resource_rules.RULES[node.name](value, expr, self.issues, self.anchors)  # type: ignore[union-attr]
            if child.value_set is not None:
                if child.type == "CodeableConcept":
                    bindings.check_codeable_concept(value, child.value_set, expr, self.issues)
                elif child.type == "Coding":
                    bindings.check_coding(value, child.value_set, expr, self.issues)
            if child.invariants and self.collect:
                self.sites.append((child.invariants, value, node.name, expr, self.resource, self.root))  # type: ignore[union-attr]
        else:
            self.resource_at(value, expr, child.type, child.path, contained=child.name == "contained")

    def primitive(self, value: Any, child: Child, expr: str) -> None:
        problem = child.check(value)  # type: ignore[misc]
        if problem is not None:
            self.issues.append(_primitive_issue(problem, child, value, expr))
        elif child.value_set is not None:
            bindings.check_code(value, child.value_set, expr, self.issues)
        elif child.type in _CONTENT_CHECKED:
            self.content(value, child.type, expr)
        if child.invariants and self.collect:
            self.sites.append((child.invariants, value, child.type, expr, self.resource, self.root))

    def content(self, value: str, type_name: str, expr: str) -> None:
        """What a valid value may still not carry: markup in text, example hosts in URLs."""
        options = self.options
        if type_name in _URL_TYPES:
            if not options.example_urls and EXAMPLE_HOST.match(value):
                self.issues.append(issue("content-example-url", expr, value=value))
            return
        tag = HTML_TAG.search(value) if "<" in value else None
        if tag is None:
            return
        if type_name == "markdown":
            severity = "warning" if options.html_in_markdown else "error"
            self.issues.append(issue("content-html-in-markdown", expr, severity=severity, tag=tag[0][:40]))
        else:
            severity = "error" if options.security_checks else "information"
            self.issues.append(issue("content-html-in-string", expr, severity=severity, tag=tag[0][:40]))

    def extension_context(self, url: str, child: Child, expr: str) -> None:
        """A core extension only where its definition's context allows (extensibility.html#context)."""
        owner = child.path.rpartition(".")[0]
        # Not judged: a part of a complex extension (the url is the part name), and the conformance
        # resources, whose tooling extensions have been given wider contexts since 4.0.1
        # (structuredefinition-fhir-type on ElementDefinition.type, capabilitystatement-expectation
        # on CapabilityStatement.rest.resource): the reference validator judges those by the
        # current definitions, which we do not hold.
        if owner == "Extension" or self.resource.get("resourceType") in _CONFORMANCE:
            return
        if owner == "Element" and self.primitive_owner:
            owner = self.primitive_owner
        inner = _INDEX.sub("", expr[len(self.resource_expr):]).rpartition(".")[0].replace("._", ".")
        rooted = f"{self.resource.get('resourceType')}{inner}"
        contexts = core_contexts()[url]
        if not context_allows(contexts, owner, rooted, self.model.is_a):
            self.issues.append(issue("ext-context", expr, url=url, owner=rooted or owner,
                                     contexts=" | ".join(contexts)))

    # --- properties the node does not define --------------------------------------------
    def stray(self, obj: dict, key: str, value: Any, node: Node, expr: str) -> None:
        if key == "resourceType" and node.is_resource:
            return
        if key[:1] == "_":
            base = node.children.get(key[1:])
            if base is not None and base.kind == PRIMITIVE:
                self.primitive_extension(obj, key[1:], value, base, f"{expr}.{key}")
                return
        else:
            for choice, (path, allowed) in node.choices.items():
                if key.startswith(choice) and key[len(choice):len(choice) + 1].isupper():
                    self.issues.append(issue(
                        "struct-choice", f"{expr}.{key}",
                        problem=f"{key!r}: {key[len(choice):]} is not an allowed type for {path} "
                                f"(allowed: {', '.join(allowed)})",
                        problem_lv=f"{key!r}: {key[len(choice):]} nav atļauts tips elementam {path} "
                                   f"(atļautie: {', '.join(allowed)})"))
                    return
        self.issues.append(issue("struct-unknown-element", f"{expr}.{key}", name=key, owner=node.name))

    def primitive_extension(self, obj: dict, name: str, value: Any, child: Child, expr: str) -> None:
        """``_name``: the id and extensions of primitive ``name`` (json.html#primitive)."""
        outer, self.primitive_owner = self.primitive_owner, child.path
        try:
            self._primitive_extension(obj, name, value, child, expr)
        finally:
            self.primitive_owner = outer

    def _primitive_extension(self, obj: dict, name: str, value: Any, child: Child, expr: str) -> None:
        if value is None:
            self.issues.append(issue("struct-null", expr))
        elif not child.array:
            if type(value) is list:
                self.issues.append(issue("struct-array-unexpected", expr, element=child.path))
            else:
                self.element(value, expr)
        elif type(value) is not list:
            self.issues.append(issue("struct-array-expected", expr, element=child.path))
        elif not value:
            self.issues.append(issue("struct-empty", expr, json="[]"))
        else:
            values = obj.get(name)
            if values is not None and (type(values) is not list or len(values) != len(value)):
                self.issues.append(issue(
                    "struct-primitive-extension", expr,
                    problem=f"_{name} must be an array as long as {name}, item for item",
                    problem_lv=f"_{name} jābūt masīvam ar tikpat elementiem kā {name}"))
            for i, item in enumerate(value):
                if item is not None:
                    self.element(item, f"{expr}[{i}]")
                elif type(values) is not list or i >= len(values) or values[i] is None:
                    self.issues.append(issue("struct-null", f"{expr}[{i}]"))

    def element(self, value: Any, expr: str) -> None:
        if type(value) is not dict:
            self.issues.append(type_issue(expr, expr.rpartition(".")[2], "Element", "object", value))
        elif not value:
            self.issues.append(issue("struct-empty", expr, json="{}"))
        else:
            if len(value) == 1 and "id" in value:
                self.issues.append(issue("ele-1", expr))
            self.object(value, self.model.element, expr)


# https://hl7.org/fhir/R4/conformance-module.html and terminology-module.html
_CONFORMANCE = frozenset({
    "CapabilityStatement", "StructureDefinition", "ImplementationGuide", "SearchParameter", "MessageDefinition",
    "OperationDefinition", "CompartmentDefinition", "StructureMap", "GraphDefinition", "ExampleScenario",
    "CodeSystem", "ValueSet", "ConceptMap", "NamingSystem", "TerminologyCapabilities"})
_INDEX = re.compile(r"\[\d+\]")
_URL_TYPES = frozenset({"uri", "url", "canonical"})
_CONTENT_CHECKED = _URL_TYPES | {"string", "markdown"}


def _has_extension_at(obj: dict, key: str, i: int) -> bool:
    ext = obj.get("_" + key)
    return type(ext) is list and i < len(ext) and ext[i] is not None


def _two_choices(expr: str, child: Child, first: str, second: str) -> Issue:
    return issue("struct-choice", f"{expr}.{second}",
                 problem=f"{child.path} may have only one type, found both {first} and {second}",
                 problem_lv=f"Elementam {child.path} drīkst būt tikai viens tips, atrasti gan {first}, gan {second}")


def _primitive_issue(problem: Problem, child: Child, value: Any, expr: str) -> Issue:
    rule, params = problem
    if rule == "struct-type":
        return type_issue(expr, child.path, child.type, params["expected"], value)
    return issue(rule, expr, **params)

