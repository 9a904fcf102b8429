"""The invariant pass: the ``error`` constraints of the R4 definitions, run on the sites the
structure walk collected.

https://hl7.org/fhir/R4/conformance-rules.html#constraints and https://hl7.org/fhirpath/

Each distinct constraint is compiled once: to a native Python test when one exists for exactly
that expression (``native_invariants``), otherwise to a ``fhirpathpy`` function. Constraints the
engine cannot run (functions it lacks, like ``htmlChecks()`` or ``resolve()``) are skipped and
logged once, so a gap in the engine never fails a valid resource. ele-1 and ext-1 are enforced
by the structure walk itself.
"""
from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from typing import Any

from ehr_core.errors import Issue

from .messages import invariant_issue
from .native_invariants import LOCATE, native_test

log = logging.getLogger(__name__)

# Enforced natively by the structure walk (``struct-empty``/``ele-1``, ``extensions.py``).
STRUCTURAL_KEYS = frozenset({"ele-1", "ext-1"})
_FUNCTION = re.compile(r"([A-Za-z_]\w*)\(")

# test(node, FHIR type name, %resource, %rootResource) -> does the constraint hold?
Test = Callable[[Any, str, dict, dict], bool]


class Invariant:
    """One compiled constraint."""

    __slots__ = ("key", "human", "expression", "test", "native", "broken", "locate")

    def __init__(self, key: str, human: str, expression: str, test: Test, native: bool):
        self.key = key
        self.human = human
        self.expression = expression
        self.test = test
        self.native = native
        self.broken = False         # set when the engine turns out not to support it
        # Optional: where below the node it fails (dom-3: the unreferenced contained[i]).
        self.locate = LOCATE.get(key) if native else None


def _has_value(inputs: list) -> list[bool]:
    """FHIRPath ``hasValue()`` (missing from fhirpathpy 2.2.4): a single primitive with a value."""
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], (dict, list))]


def _ignore_trace(label: str, value: object) -> None:
    return None


class FhirPathEngine:
    """fhirpathpy behind a lock: it keeps per-evaluation state in module globals."""

    def __init__(self) -> None:
        import fhirpathpy
        from fhirpathpy.engine import base_invocation_registry
        from fhirpathpy.engine.nodes import ResourceNode
        from fhirpathpy.models import models

        self._fhirpathpy = fhirpathpy
        self._node = ResourceNode.create_node
        self._model = models["r4"]
        self._options = {"userInvocationTable": {"hasValue": {"fn": _has_value}},
                         "traceFn": _ignore_trace}     # else trace() prints to stdout
        self.functions = frozenset(base_invocation_registry) | {"hasValue"}
        self._lock = threading.Lock()

    def compile(self, key: str, expression: str) -> Test | None:
        missing = set(_FUNCTION.findall(expression)) - self.functions
        if missing:
            log.info("invariant %s skipped: fhirpathpy lacks %s", key, ", ".join(sorted(missing)))
            return None
        try:
            fn = self._fhirpathpy.compile(expression, model=self._model, options=self._options)
        except Exception as exc:  # noqa: BLE001 - any parse failure means "cannot run it"
            log.info("invariant %s skipped: fhirpathpy cannot parse it (%s)", key, exc)
            return None
        node, lock = self._node, self._lock

        def test(value: Any, type_name: str, resource: dict, root: dict) -> bool:
            with lock:
                result = fn(node(value, type_name), {"resource": resource, "rootResource": root})
            # As in the reference validator, a constraint holds only if it evaluates to true:
            # empty (e.g. dates equal to their common precision) or false both fail.
            return bool(result) and result != [False]
        return test


class InvariantCatalogue:
    """Compiles each distinct constraint once and evaluates collected sites."""

    def __init__(self, engine: FhirPathEngine | None = None) -> None:
        self._engine = engine or FhirPathEngine()
        self._compiled: dict[tuple[str, str], Invariant | None] = {}

    def compile(self, constraint: list[str]) -> Invariant | None:
        key, severity, expression, human = constraint
        if severity != "error" or key in STRUCTURAL_KEYS:
            return None
        cache_key = (key, expression)
        if cache_key not in self._compiled:
            self._compiled[cache_key] = self._build(key, expression, human)
        return self._compiled[cache_key]

    def _build(self, key: str, expression: str, human: str) -> Invariant | None:
        native = native_test(key, expression)
        if native is not None:
            return Invariant(key, human, expression,
                             lambda value, _type, resource, root: native(value, resource, root), True)
        test = self._engine.compile(key, expression)
        return None if test is None else Invariant(key, human, expression, test, False)

    @property
    def compiled(self) -> list[Invariant]:
        return [i for i in self._compiled.values() if i is not None]

    def evaluate(self, sites: list[tuple]) -> list[Issue]:
        issues: list[Issue] = []
        for invariants, value, type_name, expr, resource, root in sites:
            for inv in invariants:
                if inv.broken:
                    continue
                try:
                    holds = inv.test(value, type_name, resource, root)
                except Exception as exc:  # noqa: BLE001 - the engine's failure is not the sender's
                    if str(exc).startswith("Not implemented"):
                        inv.broken = True
                        log.warning("invariant %s disabled: %s", inv.key, exc)
                    else:
                        log.debug("invariant %s not evaluated at %s: %s", inv.key, expr, exc)
                    continue
                if holds:
                    continue
                where = inv.locate(value, resource) if inv.locate is not None else []
                for path in where or [""]:
                    issues.append(invariant_issue(inv.key, inv.human, f"{expr}.{path}" if path else expr))
        return issues
