"""The national package as data: profiles and registered identifier systems.

Files in ``package/`` (see ``package/PROVENANCE.md``) are FHIR R4 resources; everything the
national rules need to know about the standard — which identifier systems are registered
(https://hl7.org/fhir/R4/namingsystem.html), which profiles exist — is read from them.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

PACKAGE = Path(__file__).parent / "package"
PROFILE_BASE = "https://evk.lv/fhir/StructureDefinition/"
VERSION = "0.1.0"


@lru_cache(maxsize=None)
def resources() -> tuple[dict, ...]:
    """Every resource of the package, sorted by file name."""
    return tuple(json.loads(p.read_text(encoding="utf-8")) for p in sorted(PACKAGE.glob("*.json")))


def of_type(resource_type: str) -> list[dict]:
    return [r for r in resources() if r["resourceType"] == resource_type]


@lru_cache(maxsize=None)
def registered_systems() -> frozenset[str]:
    """URIs of the active identifier NamingSystems (uniqueId of type uri)."""
    return frozenset(u["value"] for ns in of_type("NamingSystem") if ns.get("status") == "active"
                     and ns.get("kind") == "identifier" for u in ns.get("uniqueId", []) if u.get("type") == "uri")


@lru_cache(maxsize=None)
def profiles() -> dict[str, str]:
    """Canonical URL of each national profile -> the resource type it constrains."""
    return {sd["url"]: sd["type"] for sd in of_type("StructureDefinition")}


# Applied to every resource of their type in a national submission (``enforce="all"``), claimed
# or not: the identity of patients, practitioners and institutions. The data-category profiles
# apply when claimed (several may constrain one type: lab, blood group, screening Observations).
APPLIED_TO_EVERY_SUBMISSION = tuple(PROFILE_BASE + name for name in ("evk-patient", "evk-practitioner", "evk-organization"))


@lru_cache(maxsize=None)
def compiled_profiles():  # noqa: ANN201 - adapters.validation.ProfileSet
    """The package's profiles compiled once, from their snapshots (``tools/build_profiles.py``)."""
    from adapters.validation import ProfileSet, invariant_compiler

    from .rules import RULES
    return ProfileSet(of_type("StructureDefinition"), invariant_compiler(), enforced_elsewhere=frozenset(RULES))


def publish(handler) -> None:  # noqa: ANN001 - ehr_core.rest.handler.Handler
    """Serve the package read-only: ``GET [base]/StructureDefinition/evk-patient`` etc."""
    for r in resources():
        handler.published[(r["resourceType"], r["id"])] = r
