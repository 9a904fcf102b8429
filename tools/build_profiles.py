"""Generate the snapshots of the national profiles from their differentials and the R4 base.

    python tools/build_profiles.py            # rewrites adapters/national/package/StructureDefinition-*.json
    python tools/build_profiles.py --check    # exit 1 if a snapshot is out of date

https://hl7.org/fhir/R4/profiling.html#snapshot — the snapshot is the base type's element list
with the differential laid over it: elements inside a datatype (``Condition.code.coding.system``)
are expanded from that datatype where the differential reaches into it, and every slice
(``Condition.code.coding:icd10``) is a copy of the sliced element placed after it. The base is
the compact R4 definition data of ``ehr_core/definitions`` (paths, cardinality, types, target
profiles, bindings, constraints), so the snapshot carries those and what the differential adds,
not the base's prose. A differential that loosens the base (a lower min, a higher max, a type
the base does not allow) stops the tool: a profile may only constrain.
"""
from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ehr_core.definitions import structures  # noqa: E402

PACKAGE = ROOT / "adapters" / "national" / "package"
# Differential properties that only document (carried into the snapshot as they are).
_DOC = ("short", "definition", "comment", "mustSupport", "label")


def _max(value: str) -> float:
    return float("inf") if value == "*" else int(value)


def base_element(type_name: str, path: str) -> dict:
    """One element of the compact base as a snapshot ElementDefinition."""
    compact = structures()[type_name]["elements"][path]
    full = f"{type_name}.{path}" if path else type_name
    # sdf-3 wants a definition on every element; the compact base has no prose, so point to it.
    out: dict = {"id": full, "path": full,
                 "definition": f"As {full} in FHIR R4: https://hl7.org/fhir/R4/{_page(type_name)}#{full}",
                 "min": compact["min"], "max": compact["max"],
                 "base": {"path": full, "min": compact["min"], "max": compact["max"]}}
    if "ref" in compact:
        out["contentReference"] = "#" + compact["ref"]
    types = []
    for t in compact.get("types", []):
        entry = {"code": t[0]}
        if len(t) > 1 and t[1]:
            entry["targetProfile"] = [f"http://hl7.org/fhir/StructureDefinition/{r}" for r in t[1]]
        types.append(entry)
    if types:
        out["type"] = types
    if compact.get("binding"):
        out["binding"] = {"strength": compact["binding"][0], "valueSet": compact["binding"][1]}
    if compact.get("constraints"):
        out["constraint"] = [{"key": k, "severity": s, "expression": e, "human": h}
                             for k, s, e, h in compact["constraints"]]
    if compact.get("modifier"):
        out["isModifier"] = True
        out["isModifierReason"] = "As in the R4 base definition"   # eld-18
    return out


def _page(type_name: str) -> str:
    kind = structures()[type_name]["kind"]
    return f"{type_name.lower()}-definitions.html" if kind == "resource" else "datatypes-definitions.html"


def _type_elements(type_name: str, id_prefix: str, path_prefix: str) -> list[dict]:
    """The children of a datatype, re-rooted at the element that has that type."""
    out = []
    for path in structures()[type_name]["elements"]:
        if not path:
            continue
        el = base_element(type_name, path)
        el["id"] = f"{id_prefix}.{path}"
        el["path"] = f"{path_prefix}.{path}"
        out.append(el)
    return out


def _path_of(element_id: str) -> str:
    """``Condition.code.coding:icd10.system`` -> ``Condition.code.coding.system``."""
    return ".".join(part.split(":", 1)[0] for part in element_id.split("."))


class Snapshot:
    def __init__(self, sd: dict):
        self.type = sd["type"]
        self.elements = [base_element(self.type, p) for p in structures()[self.type]["elements"]]
        self.index()

    def index(self) -> None:
        self.by_id = {e["id"]: i for i, e in enumerate(self.elements)}

    def end_of(self, i: int) -> int:
        """Index after element ``i`` and all its descendants (and its slices)."""
        prefix = self.elements[i]["id"]
        j = i + 1
        while j < len(self.elements) and (self.elements[j]["id"].startswith(prefix + ".")
                                          or self.elements[j]["id"].startswith(prefix + ":")):
            j += 1
        return j

    def find(self, element_id: str) -> int:
        if element_id in self.by_id:
            return self.by_id[element_id]
        parent_id, _, last = element_id.rpartition(".")
        if ":" in last:                                   # a new slice of an existing element
            sliced = self.find(parent_id + "." + last.split(":", 1)[0] if parent_id else last.split(":", 1)[0])
            if "slicing" not in self.elements[sliced] and not last.startswith("extension:") \
                    and not last.startswith("modifierExtension:"):
                raise ValueError(f"{element_id}: slice of an element without slicing")
            at = self.end_of(sliced)
            copies = [copy.deepcopy(self.elements[sliced])]
            copies[0].pop("slicing", None)
            copies[0]["id"] = element_id
            copies[0]["sliceName"] = last.split(":", 1)[1]
            copies[0]["min"] = 0       # a slice may be optional even where the element is required
            self.elements[at:at] = copies
            self.index()
            return at
        parent = self.find(parent_id)                     # inside a datatype: expand it
        types = self.elements[parent].get("type", [])
        if len(types) != 1 or structures()[types[0]["code"]]["kind"] != "complex-type":
            raise ValueError(f"{element_id}: cannot expand {parent_id} (types {types})")
        children = _type_elements(types[0]["code"], parent_id, self.elements[parent]["path"])
        at = parent + 1
        self.elements[at:at] = children
        self.index()
        if element_id not in self.by_id:
            raise ValueError(f"{element_id}: no such element in {types[0]['code']}")
        return self.by_id[element_id]

    def apply(self, diff: dict) -> None:
        if _path_of(diff["id"]) != diff["path"]:
            raise ValueError(f"{diff['id']}: path {diff['path']} does not match the id")
        el = self.elements[self.find(diff["id"])]
        if "min" in diff and diff["min"] < el["min"]:
            raise ValueError(f"{diff['id']}: min {diff['min']} loosens {el['min']}")
        if "max" in diff and _max(diff["max"]) > _max(el["max"]):
            raise ValueError(f"{diff['id']}: max {diff['max']} loosens {el['max']}")
        if "type" in diff:
            allowed = {t["code"] for t in el.get("type", [])}
            if not {t["code"] for t in diff["type"]} <= allowed:
                raise ValueError(f"{diff['id']}: types {diff['type']} not all in the base's {allowed}")
        for key, value in diff.items():
            if key in ("id", "path"):
                continue
            if key == "constraint":
                el["constraint"] = el.get("constraint", []) + value
            else:
                el[key] = copy.deepcopy(value)


def snapshot(sd: dict) -> list[dict]:
    snap = Snapshot(sd)
    for diff in sd["differential"]["element"]:
        snap.apply(diff)
    return snap.elements


def main(argv: list[str]) -> int:
    stale = []
    for path in sorted(PACKAGE.glob("StructureDefinition-*.json")):
        sd = json.loads(path.read_text(encoding="utf-8"))
        if sd.get("derivation") != "constraint" or sd["type"] not in structures():
            continue
        sd["snapshot"] = {"element": snapshot(sd)}
        text = json.dumps(sd, indent=2, ensure_ascii=False) + "\n"
        if path.read_text(encoding="utf-8") != text:
            stale.append(path.name)
            if "--check" not in argv:
                path.write_text(text, encoding="utf-8")
    print(("stale: " if "--check" in argv else "rewrote: ") + (", ".join(stale) or "nothing"))
    return 1 if stale and "--check" in argv else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
