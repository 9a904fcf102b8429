"""The terminology service without a server: the shipped classifiers, lookup, validate-code,
expand with paging, versions side by side, and the subsets covering the shared example data."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from adapters.terminology import TerminologyError, TerminologyService
from adapters.terminology.catalog import PACKAGE, Catalog, read, version_key
from adapters.terminology.service import binding_member, terminology
from adapters.terminology.systems import ATC, ICD10, LOINC, SNOMED, UCUM

VS = "https://evk.lv/fhir/ValueSet/"
TESTDATA = Path(__file__).resolve().parents[3].parent / "shared" / "testdata"
# The URLs the data-category profiles bind to: renaming one breaks them.
BOUND = ["icd-10", "atc", "atc-substance", "loinc", "snomed-ct", "ucum-units", "blood-group-abo", "blood-group-rh"]


@pytest.fixture(scope="module")
def ts() -> TerminologyService:
    return terminology()


def test_the_package_ships_the_classifiers(ts) -> None:  # noqa: ANN001
    for url in (ICD10, ATC, LOINC, SNOMED, UCUM, "https://evk.lv/fhir/CodeSystem/sick-leave-type",
                "https://evk.lv/fhir/CodeSystem/referral-type"):
        assert ts.catalog.find("CodeSystem", url) is not None, url
    for name in BOUND + ["sick-leave-type", "referral-type"]:
        assert ts.catalog.find("ValueSet", VS + name) is not None, name
    assert len(ts.code_system(ICD10).concepts) == 12542


def test_every_value_set_expands_over_known_systems(ts) -> None:  # noqa: ANN001
    for vs in ts.catalog.of_kind("ValueSet"):
        expansion = ts.expansion(vs)
        assert expansion.members, vs["url"]
        for m in expansion.members:
            cs = ts.code_system(m.system)
            assert not cs.enumerated or cs.get(m.code) is not None, (vs["url"], m.code)


def test_lookup_gives_display_hierarchy_and_properties(ts) -> None:  # noqa: ANN001
    found = ts.lookup(ICD10, "J45.0")
    assert found.display == "Predominantly allergic asthma" and found.version == "2019"
    assert ("parent", "valueCode", "J45") in found.properties
    assert ("child", "valueCode", "J45.0") in ts.lookup(ICD10, "J45").properties
    assert ("level", "valueInteger", 5) in ts.lookup(ATC, "L02BG03").properties
    assert ts.lookup(ATC, "L02BG03").display == "anastrozole"
    assert ts.lookup(UCUM, "mm[Hg]").display == "mm[Hg]"
    with pytest.raises(TerminologyError) as err:
        ts.lookup(LOINC, "99999-5")
    assert err.value.kind == "not-found"
    with pytest.raises(TerminologyError):
        ts.lookup("http://example.org/unknown", "x")


def test_validate_code_in_value_sets(ts) -> None:  # noqa: ANN001
    assert ts.validate_in_value_set(VS + "icd-10", "J45.0", ICD10).result
    assert not ts.validate_in_value_set(VS + "icd-10", "J40-J47", ICD10).result      # a block is no diagnosis
    assert ts.validate_in_value_set(VS + "atc-substance", "L02BG03", ATC).result
    assert not ts.validate_in_value_set(VS + "atc-substance", "L02BG", ATC).result
    assert ts.validate_in_value_set(VS + "blood-group-abo", "112144000", SNOMED).result
    assert not ts.validate_in_value_set(VS + "blood-group-abo", "165747007", SNOMED).result
    wrong = ts.validate_in_value_set(VS + "loinc", "8867-4", LOINC, display="Body weight")
    assert not wrong.result and wrong.display == "Heart rate" and "Body weight" in wrong.message
    # Any display the data uses for the code is accepted, case aside.
    assert ts.validate_in_value_set(VS + "loinc", "8867-4", LOINC, display="heart rate").result
    assert not ts.validate_in_value_set(VS + "loinc", "8867-4", SNOMED).result
    with pytest.raises(TerminologyError) as err:
        ts.validate_in_value_set(VS + "nope", "x", LOINC)
    assert err.value.kind == "not-found"


def test_validate_code_in_code_systems(ts) -> None:  # noqa: ANN001
    assert ts.validate_in_system(UCUM, "/min").result
    assert ts.validate_in_system(UCUM, "{beats}/min").result
    assert not ts.validate_in_system(UCUM, "beats/min").result
    unknown = ts.validate_in_system(ATC, "N02BE01")
    assert not unknown.result and "subset" in unknown.message
    assert ts.validate_in_system("https://evk.lv/fhir/CodeSystem/sick-leave-type", "B").display == "Darbnespējas lapa B"


def test_expand_pages_with_offset_and_count(ts) -> None:  # noqa: ANN001
    vs = ts.value_set(VS + "icd-10")
    diagnoses = [c.code for c in ts.code_system(ICD10).concepts.values()
                 if c.values("kind")[0] in ("category", "subcategory")]
    pages = [ts.expand(vs, offset=o, count=5000)["expansion"] for o in (0, 5000, 10000)]
    assert [c["code"] for p in pages for c in p["contains"]] == diagnoses
    assert {p["total"] for p in pages} == {len(diagnoses)} and pages[1]["offset"] == 5000
    assert ts.expand(vs, offset=len(diagnoses), count=10)["expansion"]["contains"] == []
    whole = {"total": len(diagnoses)}
    default = ts.expand(vs)["expansion"]
    assert len(default["contains"]) == 1000 and default["total"] == whole["total"]
    asthma = ts.expand(vs, filter="predominantly allergic asthma")["expansion"]
    assert [c["code"] for c in asthma["contains"]] == ["J45.0"]
    assert {"name": "filter", "valueString": "predominantly allergic asthma"} in asthma["parameter"]
    assert {"name": "used-codesystem", "valueUri": f"{ICD10}|2019"} in asthma["parameter"]
    with pytest.raises(TerminologyError):
        ts.expand(vs, count=20000)


def test_ucum_units_are_all_valid_ucum(ts) -> None:  # noqa: ANN001
    units = ts.expansion(ts.value_set(VS + "ucum-units")).members
    assert len(units) > 1000 and {"mm[Hg]", "/min", "kg/m2", "10*9/L"} <= {m.code for m in units}
    assert all(ts.validate_in_system(UCUM, m.code).result for m in units)


def test_versions_side_by_side_latest_by_default(tmp_path) -> None:  # noqa: ANN001
    for name in ("CodeSystem-atc.json", "ValueSet-atc.json", "ValueSet-atc-substance.json"):
        shutil.copy(PACKAGE / name, tmp_path / name)
    newer = read(PACKAGE / "CodeSystem-atc.json")
    newer.update(id="atc-2027", version="2027.1", content="complete")
    newer["concept"].append({"code": "N02BE01", "display": "paracetamol",
                             "property": [{"code": "parent", "valueCode": "N02BE"}, {"code": "level", "valueInteger": 5}]})
    newer["concept"].append({"code": "N02BE", "property": [{"code": "level", "valueInteger": 4}]})
    (tmp_path / "CodeSystem-atc-2027.json").write_text(json.dumps(newer))
    ts = TerminologyService(Catalog(tmp_path))
    assert ts.catalog.versions("CodeSystem", ATC) == ["2026.1", "2027.1"]
    assert ts.code_system(ATC).version == "2027.1"
    assert ts.lookup(ATC, "N02BE01").display == "paracetamol"
    assert ts.validate_in_value_set(VS + "atc-substance", "N02BE01", ATC).result
    assert ts.lookup(ATC, "N02BE", version="2027.1").properties[0] == ("level", "valueInteger", 4)
    with pytest.raises(TerminologyError):
        ts.lookup(ATC, "N02BE01", version="2026.1")
    assert version_key("2026.10") > version_key("2026.9") > version_key("2026")


def test_binding_member_answers_profiles() -> None:
    assert binding_member(VS + "atc-substance", ATC, "L02BG03") is True
    assert binding_member(VS + "atc-substance", ATC, "L02BG") is False
    assert binding_member("http://example.org/ValueSet/unknown", ATC, "L02BG03") is None
    assert binding_member(VS + "loinc", None, "8867-4") is None


def _codings(node: object):  # noqa: ANN202
    if isinstance(node, dict):
        if isinstance(node.get("code"), str) and node.get("system") in (LOINC, SNOMED):
            yield node["system"], node["code"]
        for v in node.values():
            yield from _codings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _codings(v)


@pytest.mark.skipif(not TESTDATA.exists(), reason="shared test data not mounted")
def test_the_subsets_cover_the_shared_example_data(ts) -> None:  # noqa: ANN001
    from adapters.national.codes import loinc_problem, snomed_problem
    missing, checked = set(), 0
    for folder in ("synthea", "hl7-r4-examples", "ips"):
        for path in (TESTDATA / folder).rglob("*.json"):
            if "error" in path.name:
                continue
            for system, code in _codings(json.loads(path.read_text())):
                well_formed = loinc_problem(code) is None if system == LOINC else (
                    code.isdigit() and snomed_problem(code) is None)
                if well_formed:
                    checked += 1
                    if ts.member(VS + ("loinc" if system == LOINC else "snomed-ct"), system, code) is False:
                        missing.add((system, code))
    assert checked > 8000 and not missing, sorted(missing)[:10]


def test_module_doctests() -> None:
    import doctest

    from adapters.terminology import systems, ucum
    for module in (systems, ucum):
        assert doctest.testmod(module).failed == 0, module.__name__
