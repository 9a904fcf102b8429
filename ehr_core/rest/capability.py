"""The CapabilityStatement (capabilitystatement.html), generated from what is registered.

Resource types and their search parameters come from the loaded definitions; operations from
the handler's operation table. Nothing here is a hand-kept list that could drift.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ehr_core.search.registry import registry

if TYPE_CHECKING:
    from ehr_core.rest.handler import Handler

INTERACTIONS = ["read", "vread", "update", "patch", "delete", "history-instance", "history-type",
                "create", "search-type"]
SOFTWARE_VERSION = "0.1.0"


def capability_statement(h: Handler) -> dict:
    reg = registry()
    common = [{"name": sp.code, "definition": sp.url, "type": sp.type}
              for sp in sorted(reg.common.values(), key=lambda p: p.code)
              if sp.code in ("_id", "_lastUpdated", "_tag", "_profile", "_security", "_source")]
    resources = []
    for rt in sorted(h.resource_types):
        params = [{"name": sp.code, "definition": sp.url, "type": sp.type}
                  for sp in sorted(reg.params(rt).values(), key=lambda p: p.code) if sp.expression]
        ops = [{"name": name.lstrip("$"), "definition": getattr(fn, "definition", name)}
               for (t, name, _), fn in sorted(h.operations.items(), key=lambda kv: kv[0][1]) if t == rt]
        entry = {
            "type": rt,
            "versioning": "versioned",
            "readHistory": True,
            "updateCreate": True,
            "conditionalCreate": True,
            "conditionalRead": "not-supported",
            "conditionalUpdate": True,
            "conditionalDelete": "single",
            "referencePolicy": ["literal", "logical"],
            "interaction": [{"code": c} for c in INTERACTIONS],
            "searchParam": common + params,
        }
        if ops:
            entry["operation"] = ops
        resources.append(entry)
    system_ops = [{"name": name.lstrip("$"), "definition": getattr(fn, "definition", name)}
                  for (t, name, _), fn in h.operations.items() if t is None]
    rest = {
        "mode": "server",
        "resource": resources,
        "interaction": [{"code": c} for c in ("transaction", "batch", "search-system", "history-system")],
        "searchParam": common,
    }
    if system_ops:
        rest["operation"] = system_ops
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-11-27",
        "publisher": "EVK",
        "kind": "instance",
        "software": {"name": "EVK FHIR repository", "version": SOFTWARE_VERSION},
        "implementation": {"description": "EVK national e-health record repository", "url": h.base},
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json", "json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [rest],
    }
