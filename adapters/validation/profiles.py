"""Profiles (constraining StructureDefinitions) enforced on instances.

https://hl7.org/fhir/R4/profiling.html, https://hl7.org/fhir/R4/elementdefinition.html and
https://hl7.org/fhir/R4/profiling.html#slicing

Each profile's snapshot is compiled once into a tree of ``ElementRule``s holding only what the
profile tightens against the R4 base — a higher min, a lower max, fixed[x]/pattern[x], fewer
choice types, narrower reference targets, a new binding, new constraints, slices — so checking
an instance follows those few paths instead of walking the snapshot. Everything else (structure,
base cardinality, base bindings) is the structure walk's job and is not repeated here.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ehr_core.definitions import structures
from ehr_core.errors import Issue

from .messages import invariant_issue, issue

CORE = "http://hl7.org/fhir/StructureDefinition/"
_PRIMITIVES = frozenset(n for n, sd in structures().items() if sd["kind"] == "primitive-type")

# resolve(reference) -> the resource type it points to, when it can be told
Resolve = Callable[[str], "str | None"]
# member(value set url, system, code) -> True/False, or None when the value set is not known
Member = Callable[[str, "str | None", str], "bool | None"]


@dataclass
class Context:
    """The state of checking one resource against one profile."""

    profile: str
    resource: dict
    root: dict
    resolve: Resolve | None = None
    member: Member | None = None
    is_a: Callable[[str, str], bool] = lambda name, ancestor: name == ancestor
    issues: list[Issue] = field(default_factory=list)


class ElementRule:
    """What a profile adds to one element, and the rules below it."""

    __slots__ = ("path", "segment", "names", "refused", "primitive", "type", "min", "max", "fixed",
                 "pattern", "targets", "value_set", "invariants", "children", "slices", "closed",
                 "discriminators", "slice_name")

    def __init__(self, path: str, segment: str):
        self.path = path                      # "Condition.code.coding.system"
        self.segment = segment                # "system", "value[x]"
        self.names: tuple[str, ...] = (segment,)
        self.refused: tuple[str, ...] = ()    # choice variants the profile removed
        self.primitive = False
        self.type = ""
        self.min = 0
        self.max: int | None = None
        self.fixed: Any = None
        self.pattern: Any = None
        self.targets: tuple[str, ...] = ()
        self.value_set: str | None = None
        self.invariants: tuple = ()
        self.children: list[ElementRule] = []
        self.slices: list[ElementRule] = []
        self.closed = False
        # per discriminator: (JSON path below the item, "fixed" | "pattern", expected value)
        self.discriminators: list[tuple[tuple[str, ...], str, Any]] = []
        self.slice_name: str | None = None

    @property
    def empty(self) -> bool:
        return not (self.min or self.max is not None or self.fixed is not None or self.pattern is not None
                    or self.targets or self.value_set or self.invariants or self.children
                    or self.slices or self.refused)

    # --- checking ---------------------------------------------------------------------------
    def check(self, parent: dict, expr: str, ctx: Context) -> None:
        items = []
        present = False
        for name in self.names:
            value = parent.get(name)
            if value is None:
                present = present or (self.primitive and f"_{name}" in parent)
                continue
            if type(value) is list:
                items += [(v, f"{expr}.{name}[{i}]") for i, v in enumerate(value) if v is not None]
            else:
                items.append((value, f"{expr}.{name}"))
        for name in self.refused:
            if name in parent:
                ctx.issues.append(issue("profile-type", f"{expr}.{name}", element=self.path, profile=ctx.profile,
                                        found=name, allowed=", ".join(self.names)))
        count = len(items) or int(present)
        where = f"{expr}.{self.names[0] if len(self.names) == 1 else self.segment}"
        if count < self.min:
            ctx.issues.append(issue("profile-min", where, element=self.path, profile=ctx.profile,
                                    min=self.min, count=count))
        if self.max is not None and count > self.max:
            ctx.issues.append(issue("profile-max", where, element=self.path, profile=ctx.profile,
                                    max=self.max, count=count))
        for value, at in items:
            self.check_item(value, at, ctx)
        if self.slices:
            self.check_slices(items, where, ctx)

    def check_item(self, value: Any, expr: str, ctx: Context) -> None:
        if self.fixed is not None and value != self.fixed:
            rule = "profile-fixed-system" if self.segment == "system" else "profile-fixed"
            ctx.issues.append(issue(rule, expr, element=self.path, profile=ctx.profile,
                                    expected=_show(self.fixed), found=_show(value)))
        if self.pattern is not None and not matches_pattern(value, self.pattern):
            ctx.issues.append(issue("profile-pattern", expr, element=self.path, profile=ctx.profile,
                                    expected=_show(self.pattern)))
        if type(value) is dict:
            if self.targets:
                self.check_target(value, expr, ctx)
            if self.value_set and ctx.member is not None:
                self.check_binding(value, expr, ctx)
            for child in self.children:
                child.check(value, expr, ctx)
        elif self.value_set and ctx.member is not None and type(value) is str:
            if ctx.member(self.value_set, None, value) is False:
                ctx.issues.append(issue("profile-binding", expr, code=value, value_set=self.value_set,
                                        profile=ctx.profile))
        for inv in self.invariants:
            try:
                holds = inv.test(value, self.type, ctx.resource, ctx.root)
            except Exception:  # noqa: BLE001 - the engine's failure is not the sender's
                continue
            if not holds:
                ctx.issues.append(invariant_issue(inv.key, inv.human, expr))

    def check_target(self, ref: dict, expr: str, ctx: Context) -> None:
        reference = ref.get("reference")
        if type(reference) is str and ctx.resolve is not None:
            found, where = ctx.resolve(reference), f"{expr}.reference"
        else:
            found, where = ref.get("type"), f"{expr}.type"
        if type(found) is str and not any(ctx.is_a(found, t) for t in self.targets):
            ctx.issues.append(issue("profile-reference-type", where, element=self.path, profile=ctx.profile,
                                    allowed=" | ".join(self.targets), found=found))

    def check_binding(self, value: dict, expr: str, ctx: Context) -> None:
        """A Coding, a CodeableConcept (some coding in the set) or a Quantity (system + code)."""
        codings = value.get("coding") if "coding" in value else [value] if "code" in value else []
        answers = [(c, ctx.member(self.value_set, c.get("system"), c["code"]))  # type: ignore[arg-type]
                   for c in codings if type(c) is dict and type(c.get("code")) is str]
        if answers and not any(a for _, a in answers) and any(a is False for _, a in answers):
            if "coding" not in value:
                at = f"{expr}.code"
            else:                                         # one coding: name it; several: the concept
                at = f"{expr}.coding[0].code" if len(codings) == 1 else expr
            ctx.issues.append(issue("profile-binding", at, code=answers[0][0]["code"], value_set=self.value_set,
                                    profile=ctx.profile))

    def check_slices(self, items: list[tuple[Any, str]], where: str, ctx: Context) -> None:
        matched: dict[int, list[tuple[Any, str]]] = {i: [] for i in range(len(self.slices))}
        for value, at in items:
            for i, sl in enumerate(self.slices):
                if sl.matches(value):
                    matched[i].append((value, at))
                    break
            else:
                if self.closed:
                    ctx.issues.append(self.unmatched(value, at, ctx))
        for i, sl in enumerate(self.slices):
            count = len(matched[i])
            if count < sl.min:
                ctx.issues.append(issue("profile-slice-min", where, element=self.path, slice=sl.slice_name,
                                        profile=ctx.profile, min=sl.min, count=count))
            if sl.max is not None and count > sl.max:
                ctx.issues.append(issue("profile-slice-max", matched[i][sl.max][1], element=self.path,
                                        slice=sl.slice_name, profile=ctx.profile, max=sl.max, count=count))
            for value, at in matched[i]:
                sl.check_item(value, at, ctx)

    def matches(self, value: Any) -> bool:
        """Does ``value`` belong to this slice (all its discriminators hold)?"""
        for path, kind, expected in self.discriminators:
            found = _at(value, path)
            if not any((v == expected) if kind == "fixed" else matches_pattern(v, expected) for v in found):
                return False
        return True

    def unmatched(self, value: Any, at: str, ctx: Context) -> Issue:
        """In closed slicing: name the discriminating value that fits no slice (a Coding.system
        the profile does not allow is #22 of bad-inputs.md)."""
        first = self.slices[0].discriminators
        if len(first) == 1 and first[0][0] == ("system",) and type(value) is dict:
            allowed = " | ".join(str(s.discriminators[0][2]) for s in self.slices)
            return issue("profile-fixed-system", f"{at}.system", element=f"{self.path}.system", profile=ctx.profile,
                         expected=allowed, found=_show(value.get("system")))
        return issue("profile-slice-unmatched", at, element=self.path, profile=ctx.profile,
                     slices=", ".join(str(s.slice_name) for s in self.slices))


def matches_pattern(value: Any, pattern: Any) -> bool:
    """pattern[x] semantics: every property the pattern has, the value has with a matching
    value; every item of a pattern array matches some item of the value's array."""
    if type(pattern) is dict:
        return type(value) is dict and all(matches_pattern(value.get(k), p) for k, p in pattern.items())
    if type(pattern) is list:
        return type(value) is list and all(any(matches_pattern(v, p) for v in value) for p in pattern)
    return value == pattern


def _at(value: Any, path: tuple[str, ...]) -> list:
    found = [value]
    for key in path:
        nxt = []
        for v in found:
            if type(v) is dict and key in v:
                inner = v[key]
                nxt += inner if type(inner) is list else [inner]
        found = nxt
    return found


def _show(value: Any) -> str:
    return value if type(value) is str else json.dumps(value, ensure_ascii=False, sort_keys=True)


# --- compiling ------------------------------------------------------------------------------------
def _base(element: dict) -> dict:
    type_name, _, path = element["base"]["path"].partition(".")
    return structures()[type_name]["elements"][path]


def _max(value: str) -> int | None:
    return None if value == "*" else int(value)


class ProfileCompiler:
    """Compiles snapshots; ``type_of(url)`` maps a profile URL to the resource type it constrains."""

    def __init__(self, type_of: Callable[[str], str | None], compile_invariant: Callable | None = None,
                 enforced_elsewhere: frozenset[str] = frozenset()):
        self.type_of = type_of
        self.compile_invariant = compile_invariant
        self.enforced_elsewhere = enforced_elsewhere

    def compile(self, sd: dict) -> ElementRule:
        elements = sd["snapshot"]["element"]
        rules: dict[str, ElementRule] = {}
        root = None
        for el in elements:
            rule = self.element(el)
            rules[el["id"]] = rule
            parent_id, _, last = el["id"].rpartition(".")
            if not parent_id:
                root = rule
                continue
            if ":" in last:
                rules[f"{parent_id}.{last.split(':', 1)[0]}"].slices.append(rule)
            else:
                rules[parent_id].children.append(rule)
        by_id = {el["id"]: el for el in elements}
        for el in elements:
            if el.get("slicing") or rules[el["id"]].slices:
                self.slicing(rules[el["id"]], el, rules, by_id)
        assert root is not None
        _prune(root)
        return root

    def element(self, el: dict) -> ElementRule:
        base = _base(el)
        segment = el["path"].rpartition(".")[2] or el["path"]
        rule = ElementRule(el["path"], segment)
        rule.slice_name = el.get("sliceName")
        base_types = [t[0] for t in base.get("types", [])]
        types = [t["code"] for t in el.get("type", [])] or base_types
        rule.type = types[0] if len(types) == 1 else "" if "." in el["path"] else el["path"]
        rule.primitive = bool(types) and all(t in _PRIMITIVES for t in types)
        if segment.endswith("[x]"):
            stem = segment[:-3]
            rule.names = tuple(stem + t[0].upper() + t[1:] for t in types)
            rule.refused = tuple(stem + t[0].upper() + t[1:] for t in base_types if t not in types)
        if rule.slice_name is not None:                   # a slice's own count is judged per slice
            rule.min, rule.max = el["min"], _max(el["max"])
        else:
            if el["min"] > base["min"]:
                rule.min = el["min"]
            if el["max"] != base["max"] and el["max"] != "*":
                rule.max = int(el["max"])
        for key, value in el.items():
            if key.startswith("fixed"):
                rule.fixed = value
            elif key.startswith("pattern"):
                rule.pattern = value
        rule.targets = self.targets(el, base)
        binding = el.get("binding") or {}
        base_vs = (base.get("binding") or ["", ""])[1]
        if binding.get("strength") == "required" and binding.get("valueSet") != base_vs:
            rule.value_set = binding["valueSet"].split("|", 1)[0]
        own = {c[0] for c in base.get("constraints", [])} | self.enforced_elsewhere
        if self.compile_invariant is not None:
            new = [[c["key"], c["severity"], c["expression"], c["human"]]
                   for c in el.get("constraint", []) if c["key"] not in own]
            rule.invariants = tuple(i for i in map(self.compile_invariant, new) if i is not None)
        return rule

    def targets(self, el: dict, base: dict) -> tuple[str, ...]:
        urls = [u for t in el.get("type", []) if t["code"] == "Reference" for u in t.get("targetProfile", [])]
        if not urls:
            return ()
        types = tuple(sorted({self.type_of(u) or u.rpartition("/")[2] for u in urls}))
        base_targets = tuple(sorted({r for t in base.get("types", []) for r in (t[1] if len(t) > 1 else [])}))
        return () if types == base_targets or "Resource" in types else types

    def slicing(self, rule: ElementRule, el: dict, rules: dict[str, ElementRule], by_id: dict[str, dict]) -> None:
        # Extensions are sliced by url even where the snapshot does not say so (extensibility.html).
        slicing = el.get("slicing") or {"discriminator": [{"type": "value", "path": "url"}], "rules": "open"}
        rule.closed = slicing.get("rules") == "closed"
        for sl in rule.slices:
            sl.discriminators = []
            for d in slicing.get("discriminator", []):
                if d["type"] not in ("value", "pattern"):
                    raise ValueError(f"{el['id']}: discriminator type {d['type']} is not supported")
                sl.discriminators.append(self.expected(sl, d["path"], el["id"], rules, by_id))

    @staticmethod
    def expected(sl: ElementRule, path: str, sliced_id: str, rules: dict[str, ElementRule],
                 by_id: dict[str, dict]) -> tuple:
        slice_id = f"{sliced_id}:{sl.slice_name}"
        if path == "url":                                 # an extension slice: its type names the definition
            urls = [p for t in by_id[slice_id].get("type", []) for p in t.get("profile", [])]
            if urls:
                return (("url",), "fixed", urls[0])
        target = slice_id if path == "$this" else f"{slice_id}.{path}"
        found = rules.get(target)
        if found is None or (found.fixed is None and found.pattern is None):
            raise ValueError(f"{slice_id}: no fixed or pattern value at discriminator path {path!r}")
        json_path = () if path == "$this" else tuple(path.split("."))
        return (json_path, "fixed", found.fixed) if found.fixed is not None else (json_path, "pattern", found.pattern)


def _prune(rule: ElementRule) -> None:
    rule.children = [c for c in rule.children if not (_prune(c) or c.empty)]
    for sl in rule.slices:
        _prune(sl)


class ProfileSet:
    """The compiled profiles, by canonical URL."""

    def __init__(self, definitions: Iterable[dict], compile_invariant: Callable | None = None,
                 enforced_elsewhere: frozenset[str] = frozenset()):
        """``enforced_elsewhere``: constraint keys a caller checks natively itself (a profile
        may state a national rule as FHIRPath for readers; it need not run twice)."""
        sds = [sd for sd in definitions if sd.get("derivation") == "constraint" and "snapshot" in sd
               and sd.get("kind") == "resource"]
        self.types = {sd["url"]: sd["type"] for sd in sds}
        self.names = {sd["url"]: sd["id"] for sd in sds}
        from .validator import _tables          # the R4 type hierarchy, for reference targets
        self.is_a = _tables(compile_invariant is not None)[0].is_a
        compiler = ProfileCompiler(self.type_of, compile_invariant, enforced_elsewhere)
        self.rules = {sd["url"]: compiler.compile(sd) for sd in sds}

    def type_of(self, url: str) -> str | None:
        url = url.split("|", 1)[0]
        if url in self.types:
            return self.types[url]
        return url[len(CORE):] if url.startswith(CORE) else None

    def check(self, url: str, resource: dict, expr: str, *, root: dict | None = None,
              resolve: Resolve | None = None, member: Member | None = None) -> list[Issue]:
        """The issues of ``resource`` (at ``expr``) against profile ``url``; [] for unknown ones."""
        rule = self.rules.get(url.split("|", 1)[0])
        if rule is None:
            return []
        ctx = Context(self.names[url.split("|", 1)[0]], resource, root or resource, resolve, member, self.is_a)
        rule.check_item(resource, expr, ctx)
        return ctx.issues
