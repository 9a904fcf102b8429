"""Search against an oracle: 34 Synthea patients (plus a few edge-case resources) are loaded
through the repository once per engine, and each query's result set is compared with the set
computed in plain Python over the raw JSON (``oracle``), never through the indexer.
"""
from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl

import pytest

from ehr_core.search.bundle import searchset_bundle
from ehr_core.search.engine import execute_search, find_matches
from ehr_core.search.everything import everything_result
from ehr_core.search.query import parse_search
from ehr_core.storage.records import instant
from tests.ehr_core.search import oracle as o

UCUM = "http://unitsofmeasure.org"
LOINC = "http://loinc.org"
V2_0203 = "http://terminology.hl7.org/CodeSystem/v2-0203"

RAW = o.synthea_resources()
PATIENTS = sorted(i for t, i in RAW if t == "Patient")
P0, P_DELETED = PATIENTS[0], PATIENTS[1]
EXTRAS = [
    {"resourceType": "Patient", "id": "ext-berzins", "name": [{"family": "Bērziņš", "given": ["Jānis"]}],
     "gender": "male", "birthDate": "1975-11-16",
     "identifier": [{"type": {"coding": [{"system": V2_0203, "code": "NI"}]}, "system": "https://evk.example.lv/pk",
                     "value": "161175-19997"}],
     "meta": {"profile": ["http://example.org/StructureDefinition/lv-patient"],
              "security": [{"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}],
              "source": "http://example.org/source#1"}},
    {"resourceType": "Observation", "id": "ext-abs", "status": "final",
     "code": {"coding": [{"system": LOINC, "code": "8302-2", "display": "Body Height"}]},
     "subject": {"reference": "http://other.org/fhir/Patient/ext-1"}, "effectiveDateTime": "2019-03-10T10:00:00Z",
     "valueQuantity": {"value": 180, "unit": "cm", "system": UCUM, "code": "cm"}},
    {"resourceType": "Observation", "id": "ext-ident", "status": "final",
     "code": {"coding": [{"system": LOINC, "code": "29463-7", "display": "Body Weight"}]},
     "subject": {"identifier": {"system": "urn:oid:1.2.3", "value": "ext-99"}}, "effectivePeriod": {"start": "2019-03-01"},
     "valueQuantity": {"value": 4.5, "comparator": "<", "unit": "kg", "system": UCUM, "code": "kg"}},
    *({"resourceType": "RiskAssessment", "id": f"ext-risk-{i}", "status": "final", "subject": {"reference": f"Patient/{P0}"},
       "prediction": [{"probabilityDecimal": p}]} for i, p in enumerate((0.5, 0.8, 0.85, 1))),
    *({"resourceType": "ValueSet", "id": f"ext-vs-{i}", "status": "active", "url": url}
      for i, url in enumerate(("http://example.org/fhir/ValueSet/vs-a", "http://example.org/fhir/ValueSet/vs-a/sub",
                               "http://other.org/ValueSet/c"))),
    {"resourceType": "Procedure", "id": "ext-proc", "status": "completed", "subject": {"reference": f"Patient/{P0}"},
     "instantiatesCanonical": ["http://example.org/PlanDefinition/p1|1.0"],
     "instantiatesUri": ["http://example.org/protocol/7"]},
]
HEIGHTS = sorted(i for (t, i), r in RAW.items() if t == "Observation" and o.token_match(o.codings(r["code"]), "8302-2"))
DELETED = {("Patient", P_DELETED), *(("Observation", i) for i in HEIGHTS[:3])}
ALL = {**RAW, **{(r["resourceType"], r["id"]): r for r in EXTRAS}}
LIVE = {k: v for k, v in ALL.items() if k not in DELETED}


class Store:
    def __init__(self, engine, batch_time: int):  # noqa: ANN001
        self.engine = engine
        self.batch_time = batch_time           # µs last_updated of the Synthea batch

    def search(self, rt: str | None, params: list[tuple[str, str]], **kw):  # noqa: ANN201
        """Every match, following next cursors; returns (ordered keys, last result)."""
        keys, cursor = [], None
        while True:
            req = parse_search(rt, params + [("_count", "500")] + ([("_cursor", cursor)] if cursor else []), **kw)
            with self.engine.connect() as c:
                result = execute_search(c, req)
            keys += [(m.resource_type, m.id) for m in result.matches]
            cursor = result.next_cursor
            if not cursor:
                return keys, result


@pytest.fixture(scope="module")
def store(module_service) -> Store:  # noqa: ANN001
    repo = module_service.repo
    with repo.session(write=True) as s:
        batch_time = next(s.create(r, id=r["id"]) for r in RAW.values()).last_updated
        for r in list(RAW.values())[1:]:
            s.create(r, id=r["id"])
    time.sleep(0.01)
    with repo.session(write=True) as s:
        for r in EXTRAS:
            s.create(r, id=r["id"])
    with repo.session(write=True) as s:
        for rt, id in DELETED:
            s.delete(rt, id)
    return Store(module_service.engine, batch_time)


def live(rt: str, pred) -> set[tuple[str, str]]:  # noqa: ANN001
    return {k for k, r in LIVE.items() if k[0] == rt and pred(r)}


def refs(r: dict, path: str) -> list[str]:
    return o.ref_ids(o.walk(r, path))


def obs_date(r: dict) -> tuple[float, float] | None:
    if "effectiveDateTime" in r:
        return o.date_bounds(r["effectiveDateTime"])
    if "effectivePeriod" in r:
        return o.period_bounds(r["effectivePeriod"])
    return None


def has_date(prefix: str):  # noqa: ANN201
    return lambda r: (d := obs_date(r)) is not None and o.date_prefix(d, prefix)


def quantities(r: dict) -> list[dict]:
    return [q for q in o.walk(r, "valueQuantity") if "value" in q and "comparator" not in q]


def components(r: dict, root: bool, comps: bool) -> list[dict]:
    return ([r] if root else []) + (r.get("component", []) if comps else [])


def composite_q(r: dict, code: str, q: str, *, root: bool = True, comps: bool = False) -> bool:
    return any(o.token_match(o.codings(e.get("code")), code) and any(o.quantity_match(v, q) for v in quantities(e))
               for e in components(r, root, comps))


def live_target(ref: str) -> dict | None:
    rt, _, id = ref.partition("/")
    return LIVE.get((rt, id))


def chained(r: dict, path: str, pred) -> bool:  # noqa: ANN001
    return any((t := live_target(ref)) is not None and pred(t) for ref in refs(r, path))


def referred_by(rt: str, path: str, pred):  # noqa: ANN001, ANN201
    """Predicate: some live ``rt`` meeting ``pred`` refers to the resource at ``path`` (computed once)."""
    found: list[set[str]] = []

    def test(r: dict) -> bool:
        if not found:
            found.append({ref for (t, _), x in LIVE.items() if t == rt and pred(x) for ref in refs(x, path)})
        return f"{r['resourceType']}/{r['id']}" in found[0]
    return test


P0_REF = f"Patient/{P0}"
P0_SSN = next(i["value"] for i in RAW[("Patient", P0)]["identifier"] if i.get("system") == "http://hl7.org/fhir/sid/us-ssn")
ORG0 = sorted(i for t, i in RAW if t == "Organization")[0]
ORG0_NAME = RAW[("Organization", ORG0)]["name"]
BATCH_CUT = None   # filled from the store: instant of the Synthea batch

CASES = [
    # string (search.html#string)
    ("Patient", "name=kri", lambda r: o.string_match(o.name_parts(r.get("name", [])), "kri")),
    ("Patient", "name=BERZ", lambda r: o.string_match(o.name_parts(r.get("name", [])), "berz")),
    ("Patient", "family:exact=Mejía", lambda r: o.string_match(o.walk(r, "name.family"), "Mejía", "exact")),
    ("Patient", "family:exact=mejía", lambda r: False),
    ("Patient", "name:contains=ONR", lambda r: o.string_match(o.name_parts(r.get("name", [])), "onr", "contains")),
    ("Patient", "given=Louis,Liz", lambda r: o.string_match(o.walk(r, "name.given"), "Louis")
     or o.string_match(o.walk(r, "name.given"), "Liz")),
    ("Patient", "address-city=bost", lambda r: o.string_match(o.walk(r, "address.city"), "bost")),
    ("Organization", "name=boston", lambda r: o.string_match(o.walk(r, "name"), "boston")),
    ("Patient", "name=jose maria", lambda r: o.string_match(o.name_parts(r.get("name", [])), "jose maria")),
    # token (search.html#token)
    ("Observation", "code=8302-2", lambda r: o.token_match(o.codings(r["code"]), "8302-2")),
    ("Observation", f"code={LOINC}|8302-2,{LOINC}|29463-7", lambda r: o.token_match(o.codings(r["code"]), f"{LOINC}|8302-2")
     or o.token_match(o.codings(r["code"]), f"{LOINC}|29463-7")),
    ("Observation", "code=http://snomed.info/sct|8302-2", lambda r: False),
    ("Patient", "gender=|female", lambda r: r.get("gender") == "female"),
    ("Observation", "category=http://terminology.hl7.org/CodeSystem/observation-category|",
     lambda r: o.token_match(o.codings(r.get("category", [])), "http://terminology.hl7.org/CodeSystem/observation-category|")),
    ("Observation", "code:text=pressure", lambda r: any(
        o.norm(t).startswith("pressure") or " pressure" in o.norm(t)
        for t in [c.get("display", "") for c in o.codings(r["code"])] + [r["code"].get("text", "")])),
    ("Condition", "clinical-status:not=active", lambda r: not o.token_match(o.codings(r.get("clinicalStatus")), "active")),
    ("Patient", f"identifier:of-type={V2_0203}|SS|{P0_SSN}", lambda r: any(
        i.get("value") == P0_SSN and o.token_match(o.codings(i.get("type")), f"{V2_0203}|SS") for i in r.get("identifier", []))),
    ("Patient", f"identifier=http://hl7.org/fhir/sid/us-ssn|{P0_SSN}",
     lambda r: any(i.get("value") == P0_SSN for i in r.get("identifier", []))),
    ("Observation", "status=final&code=72166-2", lambda r: r["status"] == "final"
     and o.token_match(o.codings(r["code"]), "72166-2")),
    ("Practitioner", "active=true", lambda r: r.get("active") is True),
    ("Patient", "active:missing=true", lambda r: "active" not in r),
    ("Organization", "_tag=https://smarthealthit.org/tags|synthea-5-2019",
     lambda r: o.token_match(o.walk(r, "meta.tag"), "https://smarthealthit.org/tags|synthea-5-2019")),
    ("Patient", "_tag:not=https://smarthealthit.org/tags|synthea-5-2019",
     lambda r: not o.token_match(o.walk(r, "meta.tag"), "https://smarthealthit.org/tags|synthea-5-2019")),
    ("Immunization", "vaccine-code=140,113", lambda r: o.token_match(o.codings(r["vaccineCode"]), "140")
     or o.token_match(o.codings(r["vaccineCode"]), "113")),
    ("Observation", "value-concept=http://snomed.info/sct|8517006",
     lambda r: o.token_match(o.codings(r.get("valueCodeableConcept", {})), "http://snomed.info/sct|8517006")),
    ("Patient", "_security=R", lambda r: o.token_match(o.walk(r, "meta.security"), "R")),
    # reference (search.html#reference)
    ("Observation", f"subject={P0_REF}", lambda r: P0_REF in refs(r, "subject")),
    ("Observation", f"subject={P0}", lambda r: any(x.endswith("/" + P0) for x in refs(r, "subject"))),
    ("Observation", f"patient={P0}", lambda r: P0_REF in refs(r, "subject")),
    ("Observation", f"subject:Patient={P_DELETED}", lambda r: f"Patient/{P_DELETED}" in refs(r, "subject")),
    ("Encounter", f"service-provider=Organization/{ORG0}", lambda r: f"Organization/{ORG0}" in refs(r, "serviceProvider")),
    ("Observation", "subject=http://other.org/fhir/Patient/ext-1",
     lambda r: "http://other.org/fhir/Patient/ext-1" in refs(r, "subject")),
    ("Observation", "subject:identifier=urn:oid:1.2.3|ext-99",
     lambda r: any(i.get("value") == "ext-99" for i in o.walk(r, "subject.identifier"))),
    ("Procedure", "instantiates-canonical=http://example.org/PlanDefinition/p1",
     lambda r: any(c.split("|")[0] == "http://example.org/PlanDefinition/p1" for c in r.get("instantiatesCanonical", []))),
    ("Observation", "encounter:missing=true", lambda r: not refs(r, "encounter")),
    ("Observation", "subject:missing=true", lambda r: not o.walk(r, "subject")),
    ("MedicationRequest", "requester:missing=false", lambda r: bool(refs(r, "requester"))),
    # date, every prefix (search.html#date)
    *(("Observation", f"date={p}2017-05", has_date(f"{p}2017-05")) for p in ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap")),
    ("Observation", "date=2019-03-10", has_date("2019-03-10")),
    ("Patient", "birthdate=le1960", lambda r: o.date_prefix(o.date_bounds(r["birthDate"]), "le1960")),
    ("Patient", "birthdate=1975-11-16", lambda r: r.get("birthDate") == "1975-11-16"),
    ("Encounter", "date=ge2018-01-01", lambda r: o.date_prefix(o.period_bounds(r["period"]), "ge2018-01-01")),
    ("Encounter", "date=sa2020-06-01T10:00:00Z", lambda r: o.date_prefix(o.period_bounds(r["period"]), "sa2020-06-01T10:00:00Z")),
    ("Condition", "abatement-date:missing=true", lambda r: "abatementDateTime" not in r and "abatementPeriod" not in r),
    ("Condition", "onset-date=ge1990&onset-date=lt2000", lambda r: "onsetDateTime" in r
     and o.date_prefix(o.date_bounds(r["onsetDateTime"]), "ge1990") and o.date_prefix(o.date_bounds(r["onsetDateTime"]), "lt2000")),
    # number (search.html#number)
    *(("RiskAssessment", f"probability={q}", (lambda q: lambda r: any(
        o.number_prefix(p, q) for p in o.walk(r, "prediction.probabilityDecimal")))(q))
      for q in ("0.8", "gt0.5", "le0.85", "ap0.8", "1.0")),
    # quantity (search.html#quantity)
    ("Observation", "value-quantity=gt100", lambda r: any(o.quantity_match(q, "gt100") for q in quantities(r))),
    ("Observation", f"value-quantity=lt20|{UCUM}|kg", lambda r: any(o.quantity_match(q, f"lt20|{UCUM}|kg") for q in quantities(r))
     or r["id"] == "ext-ident"),
    ("Observation", "value-quantity=ge25||kg/m2", lambda r: any(o.quantity_match(q, "ge25||kg/m2") for q in quantities(r))),
    ("Observation", "value-quantity=ap70||kg", lambda r: any(o.quantity_match(q, "ap70||kg") for q in quantities(r))),
    ("Observation", "value-quantity=180", lambda r: any(o.quantity_match(q, "180") for q in quantities(r))),
    ("Observation", "value-quantity=ne5.2", lambda r: any(o.quantity_match(q, "ne5.2") for q in quantities(r))
     or r["id"] == "ext-ident"),
    # uri (search.html#uri)
    ("ValueSet", "url=http://example.org/fhir/ValueSet/vs-a", lambda r: r.get("url") == "http://example.org/fhir/ValueSet/vs-a"),
    ("ValueSet", "url:below=http://example.org/fhir/", lambda r: r.get("url", "").startswith("http://example.org/fhir/")),
    ("ValueSet", "url:above=http://example.org/fhir/ValueSet/vs-a/sub/x", lambda r: r.get("url") in (
        "http://example.org/fhir/ValueSet/vs-a", "http://example.org/fhir/ValueSet/vs-a/sub")),
    ("Procedure", "instantiates-uri:missing=false", lambda r: bool(r.get("instantiatesUri"))),
    ("Patient", "_profile=http://example.org/StructureDefinition/lv-patient",
     lambda r: "http://example.org/StructureDefinition/lv-patient" in o.walk(r, "meta.profile")),
    ("Patient", "_source=http://example.org/source#1", lambda r: o.walk(r, "meta.source") == ["http://example.org/source#1"]),
    # composite (search.html#composite)
    ("Observation", f"code-value-quantity={LOINC}|29463-7$gt80", lambda r: composite_q(r, f"{LOINC}|29463-7", "gt80")),
    ("Observation", f"component-code-value-quantity={LOINC}|8480-6$gt130",
     lambda r: composite_q(r, f"{LOINC}|8480-6", "gt130", root=False, comps=True)),
    ("Observation", f"combo-code-value-quantity={LOINC}|8462-4$lt80",
     lambda r: composite_q(r, f"{LOINC}|8462-4", "lt80", root=True, comps=True)),
    ("Observation", f"code-value-concept={LOINC}|72166-2$http://snomed.info/sct|266919005",
     lambda r: o.token_match(o.codings(r["code"]), f"{LOINC}|72166-2")
     and o.token_match(o.codings(r.get("valueCodeableConcept", {})), "http://snomed.info/sct|266919005")),
    ("Observation", "code-value-quantity:missing=true", lambda r: not o.codings(r["code"]) or not o.walk(r, "valueQuantity")),
    # chaining (search.html#chaining), the target must exist
    ("Observation", "subject.name=kri", lambda r: chained(r, "subject", lambda p: o.string_match(o.name_parts(p.get("name", [])), "kri"))),
    ("Observation", "subject:Patient.birthdate=lt1970",
     lambda r: chained(r, "subject", lambda p: o.date_prefix(o.date_bounds(p["birthDate"]), "lt1970"))),
    ("Observation", f"subject.identifier=http://hl7.org/fhir/sid/us-ssn|{P0_SSN}",
     lambda r: chained(r, "subject", lambda p: any(i.get("value") == P0_SSN for i in p.get("identifier", [])))),
    ("Observation", "subject.gender=male&code=8302-2", lambda r: o.token_match(o.codings(r["code"]), "8302-2")
     and chained(r, "subject", lambda p: p.get("gender") == "male")),
    # two chains on the same reference: each is its own condition (AND)
    ("Observation", "subject.gender=male&subject.birthdate=lt1970", lambda r: chained(
        r, "subject", lambda p: p.get("gender") == "male")
     and chained(r, "subject", lambda p: o.date_prefix(o.date_bounds(p["birthDate"]), "lt1970"))),
    ("Observation", f"encounter.service-provider.name={ORG0_NAME[:6]}", lambda r: chained(r, "encounter", lambda e: chained(
        e, "serviceProvider", lambda org: o.string_match([org.get("name", "")], ORG0_NAME[:6])))),
    # reverse chaining (search.html#has)
    ("Patient", "_has:Condition:patient:code=38341003", referred_by(
        "Condition", "subject", lambda c: o.token_match(o.codings(c["code"]), "38341003"))),
    ("Patient", "_has:Encounter:patient:_has:Condition:encounter:code=444814009", referred_by(
        "Encounter", "subject", referred_by(
            "Condition", "encounter", lambda c: o.token_match(o.codings(c["code"]), "444814009")))),
    ("Encounter", "_has:Observation:encounter:value-quantity=gt200", referred_by(
        "Observation", "encounter", lambda ob: any(o.quantity_match(q, "gt200") for q in quantities(ob)))),
    # common parameters (search.html#all)
    ("Patient", f"_id={P0},{P_DELETED},ext-berzins", lambda r: r["id"] in (P0, "ext-berzins")),
    ("Patient", "_text=person seed", lambda r: "person seed" in o.norm(re.sub(r"<[^>]+>", " ", o.walk(r, "text.div")[0]))
     if o.walk(r, "text.div") else False),
    ("Observation", "_id:not=ext-abs&code=8302-2", lambda r: r["id"] != "ext-abs" and o.token_match(o.codings(r["code"]), "8302-2")),
]


@pytest.mark.parametrize("rt,query,pred", CASES, ids=[f"{c[0]}?{c[1]}" for c in CASES])
def test_query_matches_oracle(store: Store, rt: str, query: str, pred) -> None:  # noqa: ANN001
    found, result = store.search(rt, parse_qsl(query, keep_blank_values=True), strict=True)
    assert not result.issues
    assert len(found) == len(set(found))
    assert set(found) == live(rt, pred)


def test_at_least_fifty_queries_and_most_find_something(store: Store) -> None:
    assert len(CASES) >= 50
    empty = [q for rt, q, pred in CASES if not live(rt, pred)]
    assert len(empty) <= 3, empty


def test_last_updated(store: Store) -> None:
    cut = instant(store.batch_time)
    later = {(r["resourceType"], r["id"]) for r in EXTRAS}
    assert set(store.search("Observation", [("_lastUpdated", f"gt{cut}")])[0]) == {k for k in later if k[0] == "Observation"}
    found = set(store.search("Patient", [("_lastUpdated", f"le{cut}")])[0])
    assert found == {k for k in LIVE if k[0] == "Patient" and k not in later}
    assert len(store.search("Patient", [("_lastUpdated", "lt2000")])[0]) == 0


def test_deleted_never_match(store: Store) -> None:
    found = set(store.search(None, [("_type", "Patient,Observation"), ("_id", ",".join(i for _, i in DELETED))])[0])
    assert found == set()


def test_system_search_with_type(store: Store) -> None:
    params = [("_type", "Patient,Practitioner"), ("name", "kri")]
    found, _ = store.search(None, params)
    expected = {k for k, r in LIVE.items() if k[0] in ("Patient", "Practitioner")
                and o.string_match(o.name_parts(r.get("name", [])), "kri")}
    assert set(found) == expected and len(expected) > 1
    found, _ = store.search(None, [("_security", "R")])
    assert set(found) == {("Patient", "ext-berzins")}


# --- order and paging ------------------------------------------------------------------------------

def test_sort_descending_date_then_id(store: Store) -> None:
    found, _ = store.search("Observation", [("code", "8302-2"), ("_sort", "-date,_id")])
    rows = [LIVE[k] for k in found]
    expected = sorted(rows, key=lambda r: r["id"])
    expected.sort(key=lambda r: obs_date(r)[0], reverse=True)
    assert [r["id"] for r in rows] == [r["id"] for r in expected]


def test_sort_string_then_paging_backwards(store: Store) -> None:
    params = [("_sort", "family,-birthdate")]
    found, _ = store.search("Patient", params)
    expected = sorted((k for k in LIVE if k[0] == "Patient"), key=lambda k: (
        min(o.norm(f) for f in o.walk(LIVE[k], "name.family")), -o.date_bounds(LIVE[k]["birthDate"])[0], k[1]))
    assert found == expected
    # walk the same order 4 at a time, forward then back through the previous links
    pages, cursor = [], None
    while True:
        req = parse_search("Patient", params + [("_count", "4")] + ([("_cursor", cursor)] if cursor else []))
        with store.engine.connect() as c:
            result = execute_search(c, req)
        pages.append(result)
        cursor = result.next_cursor
        if not cursor:
            break
    assert [(m.resource_type, m.id) for p in pages for m in p.matches] == expected
    back, cursor = [], pages[-1].previous_cursor
    while cursor:
        req = parse_search("Patient", params + [("_count", "4"), ("_cursor", cursor)])
        with store.engine.connect() as c:
            result = execute_search(c, req)
        back = [(m.resource_type, m.id) for m in result.matches] + back
        cursor = result.previous_cursor
    assert back + [(m.resource_type, m.id) for m in pages[-1].matches] == expected


def test_sort_by_quantity_and_last_updated(store: Store) -> None:
    found, _ = store.search("Observation", [("code", "29463-7"), ("_sort", "value-quantity")])
    values = [LIVE[k]["valueQuantity"]["value"] if "comparator" not in LIVE[k]["valueQuantity"] else float("-inf")
              for k in found]
    assert values == sorted(values)
    found, _ = store.search("Observation", [("code", "8302-2"), ("_sort", "-_lastUpdated")])
    assert found[0] == ("Observation", "ext-abs")


# --- result shaping --------------------------------------------------------------------------------

def bundle_for(store: Store, rt: str | None, params: list[tuple[str, str]], **kw) -> dict:
    req = parse_search(rt, params, **kw)
    with store.engine.connect() as c:
        result = execute_search(c, req, **{k: v for k, v in kw.items() if k == "restrict"})
    return searchset_bundle(result, req, base_url="http://testserver/fhir")


def test_total_and_count(store: Store) -> None:
    n = len(live("Observation", lambda r: o.token_match(o.codings(r["code"]), "8302-2")))
    b = bundle_for(store, "Observation", [("code", "8302-2"), ("_total", "accurate"), ("_count", "10")])
    assert b["total"] == n and len(b["entry"]) == 10
    assert {l["relation"] for l in b["link"]} == {"self", "first", "next"}
    assert "total" not in bundle_for(store, "Observation", [("code", "8302-2")])
    b = bundle_for(store, "Observation", [("code", "8302-2"), ("_count", "0"), ("_total", "estimate")])
    assert b["total"] == n and "entry" not in b
    b = bundle_for(store, "Observation", [("code", "8302-2"), ("_summary", "count")])
    assert b["total"] == n and "entry" not in b


def test_summary_and_elements(store: Store) -> None:
    b = bundle_for(store, "Patient", [("_id", P0), ("_summary", "true")])
    pat = b["entry"][0]["resource"]
    assert {"name", "gender", "birthDate", "identifier"} <= set(pat) and "text" not in pat and "communication" not in pat
    assert any(t["code"] == "SUBSETTED" for t in pat["meta"]["tag"])
    pat = bundle_for(store, "Patient", [("_id", P0), ("_summary", "data")])["entry"][0]["resource"]
    assert "text" not in pat and "communication" in pat
    pat = bundle_for(store, "Patient", [("_id", P0), ("_summary", "text")])["entry"][0]["resource"]
    assert set(pat) <= {"resourceType", "id", "meta", "text"}
    pat = bundle_for(store, "Patient", [("_id", P0), ("_elements", "gender,deceased")])["entry"][0]["resource"]
    assert set(pat) == {"resourceType", "id", "meta", "gender"}
    obs = bundle_for(store, "Observation", [("_id", "ext-abs"), ("_elements", "value")])["entry"][0]["resource"]
    assert "valueQuantity" in obs and "code" in obs     # code is mandatory (1..1) and stays


def test_unknown_parameter_reported_in_outcome_entry(store: Store) -> None:
    b = bundle_for(store, "Patient", [("_id", P0), ("bogus", "x")])
    outcome = [e for e in b["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcome) == 1 and "bogus" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    assert "bogus" not in b["link"][0]["url"]


# --- includes ---------------------------------------------------------------------------------------

def test_include_and_revinclude(store: Store) -> None:
    b = bundle_for(store, "Observation", [("code", "72166-2"), ("_include", "Observation:subject"), ("_count", "1000")])
    matches = [e for e in b["entry"] if e["search"]["mode"] == "match"]
    included = {e["fullUrl"].split("/fhir/")[1] for e in b["entry"] if e["search"]["mode"] == "include"}
    expected = {ref for e in matches for ref in refs(e["resource"], "subject") if live_target(ref) is not None}
    assert included == expected and len(included) > 20
    b = bundle_for(store, "Patient", [("_id", P0), ("_revinclude", "Condition:subject")])
    included = {e["fullUrl"].split("/fhir/")[1] for e in b["entry"] if e["search"]["mode"] == "include"}
    assert included == {f"Condition/{i}" for (t, i), r in LIVE.items() if t == "Condition" and P0_REF in refs(r, "subject")}


def test_include_iterate_and_wildcard(store: Store) -> None:
    obs = sorted(i for (t, i), r in LIVE.items() if t == "Observation" and refs(r, "encounter"))[0]
    enc = live_target(refs(LIVE[("Observation", obs)], "encounter")[0])
    b = bundle_for(store, "Observation", [("_id", obs), ("_include", "Observation:encounter"),
                                          ("_include:iterate", "Encounter:service-provider")])
    included = {e["fullUrl"].split("/fhir/")[1] for e in b["entry"] if e["search"]["mode"] == "include"}
    assert included == {f"Encounter/{enc['id']}", *refs(enc, "serviceProvider")}
    b = bundle_for(store, "Observation", [("_id", obs), ("_include", "*")])
    included = {e["fullUrl"].split("/fhir/")[1] for e in b["entry"] if e["search"]["mode"] == "include"}
    assert included == {f"Encounter/{enc['id']}", P0_REF if P0_REF in refs(LIVE[("Observation", obs)], "subject")
                        else refs(LIVE[("Observation", obs)], "subject")[0]}


def test_include_cap_is_reported(store: Store) -> None:
    req = parse_search("Patient", [("_id", P0), ("_revinclude", "Observation:subject")])
    with store.engine.connect() as c:
        result = execute_search(c, req, include_cap=5)
    assert len(result.includes) == 5
    assert any(i.code == "too-costly" for i in result.issues)


def test_restrict_applies_to_matches_and_includes(store: Store) -> None:
    req = parse_search("Observation", [("code", "72166-2"), ("_include", "Observation:subject"), ("_total", "accurate")])
    with store.engine.connect() as c:
        result = execute_search(c, req, restrict=lambda r: r.c.resource_type != "Patient")
    assert result.matches and not result.includes
    with store.engine.connect() as c:
        result = execute_search(c, req, restrict=lambda r: r.c.id == "nothing")
    assert result.total == 0 and not result.matches
    # chains and _has look only at resources the caller may see, so they cannot probe hidden ones
    with store.engine.connect() as c:
        chained = execute_search(c, parse_search("Observation", [("subject.name", "kri")]),
                                 restrict=lambda r: r.c.resource_type != "Patient")
        has = execute_search(c, parse_search("Patient", [("_has:Condition:patient:code", "38341003")]),
                             restrict=lambda r: r.c.resource_type != "Condition")
    assert not chained.matches and not has.matches


# --- compartments, $everything, conditional matching ------------------------------------------------

def test_compartment_search(store: Store) -> None:
    found, _ = store.search("Observation", [], compartment=("Patient", P0))
    assert set(found) == live("Observation", lambda r: P0_REF in refs(r, "subject") + refs(r, "performer"))
    found, _ = store.search("Encounter", [("class", "AMB")], compartment=("Patient", P0))
    assert set(found) == live("Encounter", lambda r: P0_REF in refs(r, "subject") and r["class"]["code"] == "AMB")


def test_everything(store: Store) -> None:
    keys, cursor = [], None
    while True:
        with store.engine.connect() as c:
            result = everything_result(c, P0, count=200, cursor=cursor)
        keys += [(m.resource_type, m.id) for m in result.matches]
        cursor = result.next_cursor
        if not cursor:
            break
    from ehr_core import definitions
    members = {t: p for t, p in definitions.patient_compartment().items() if p}
    path_of = {"patient": ["patient", "subject", "beneficiary"], "subject": ["subject"], "performer": ["performer"],
               "requester": ["requester"], "payee": ["payee.party"], "recorder": ["recorder"], "asserter": ["asserter"]}
    inside = {("Patient", P0)}
    for (t, i), r in LIVE.items():
        paths = [p for param in members.get(t, ()) for p in path_of.get(param, [param])]
        if any(P0_REF == ref for p in paths for ref in refs(r, p)):
            inside.add((t, i))
    supporting = {tuple(ref.split("/")) for k in inside for ref in _all_refs(LIVE[k])
                  if ref.split("/")[0] in ("Practitioner", "Organization", "Location", "Medication")}
    expected = inside | {k for k in supporting if k in LIVE}
    assert len(keys) == len(set(keys))
    assert set(keys) == expected


def _all_refs(value) -> list[str]:  # noqa: ANN001
    out = []
    if isinstance(value, dict):
        if isinstance(value.get("reference"), str):
            out.append(value["reference"])
        for v in value.values():
            out += _all_refs(v)
    elif isinstance(value, list):
        for v in value:
            out += _all_refs(v)
    return out


def test_find_matches(store: Store) -> None:
    with store.engine.connect() as c:
        assert find_matches(c, "Patient", [("identifier", f"http://hl7.org/fhir/sid/us-ssn|{P0_SSN}")]) == [("Patient", P0)]
        assert len(find_matches(c, "Patient", "gender=male", limit=2)) == 2
        assert find_matches(c, "Patient", "Patient?_id=nope") == []
