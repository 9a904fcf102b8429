"""``StructureValidator``: the structural gatekeeper every write passes through.

https://hl7.org/fhir/R4/validation.html — structure (elements, cardinality, JSON types, value
formats), required bindings that can be checked offline, and the definitions' invariants.
Profiles, references and terminology beyond the base value sets belong to other checkers.
"""
from __future__ import annotations

from functools import lru_cache

from ehr_core.definitions import structures
from ehr_core.errors import Issue

from .invariants import InvariantCatalogue
from .messages import type_issue
from .model import Model
from .options import DEFAULT, ValidationOptions
from .structure import StructureWalk


@lru_cache(maxsize=None)
def _tables(invariants: bool) -> tuple[Model, InvariantCatalogue | None]:
    """Built once per process (per flag): every validator shares the same read-only tables."""
    catalogue = InvariantCatalogue() if invariants else None
    return Model(structures(), catalogue.compile if catalogue else None), catalogue


def invariant_compiler():  # noqa: ANN201
    """The shared constraint compiler, for profiles that add constraints of their own."""
    return _tables(True)[1].compile  # type: ignore[union-attr]


class StructureValidator:
    """Validates parsed FHIR R4 JSON against the base StructureDefinitions.

    ``invariants`` adds the FHIRPath constraint pass (the hot constraints run natively);
    ``options`` are the reference validator's verdict-changing switches (its defaults if not given).
    """

    def __init__(self, *, invariants: bool = True, options: ValidationOptions = DEFAULT):
        self._invariants = invariants
        self._model, self._catalogue = _tables(invariants)
        self.options = options

    def with_options(self, options: ValidationOptions) -> StructureValidator:
        """The same validator (same shared tables) with other switches."""
        return StructureValidator(invariants=self._invariants, options=options)

    def validate(self, resource: dict, *, path: str | None = None) -> list[Issue]:
        """Every issue found in ``resource``; ``path`` prefixes each expression and defaults to
        the resource type (``Bundle.entry[3].resource`` when validating a Bundle entry alone)."""
        if type(resource) is not dict:
            return [type_issue(path or "Resource", path or "Resource", "Resource", "object", resource)]
        partial = path is not None and "." in path      # one entry of a Bundle, say
        if path is None:
            rtype = resource.get("resourceType")
            path = rtype if type(rtype) is str and rtype else "Resource"
        walk = StructureWalk(self._model, collect_sites=self._catalogue is not None, partial=partial,
                             options=self.options)
        walk.resource_at(resource, path)
        if self._catalogue is not None and walk.sites:
            walk.issues.extend(self._catalogue.evaluate(walk.sites))
        if not self.options.contained:
            # validateContains=IGNORE: neither the contained resources nor the container's rules
            # about them (dom-2..5, whose failures are reported at contained[i]) are judged.
            return [i for i in walk.issues if not any(".contained[" in e for e in i.expression)]
        return walk.issues
