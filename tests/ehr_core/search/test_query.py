"""Parsing of search parameters into a SearchRequest (search.html), no database needed."""
from __future__ import annotations

import pytest

from ehr_core.errors import FhirError
from ehr_core.search import cursor as cursors
from ehr_core.search.query import MAX_COUNT, Include, SortKey, parse_search
from ehr_core.search.query_values import (CompositeValue, DateValue, NumberValue, OfTypeValue, QuantityValue,
                                          ReferenceValue, TokenValue, split_escaped)
from ehr_core.search.normalize import date_range


def one(rt: str, name: str, value: str, **kw):  # noqa: ANN201
    req = parse_search(rt, [(name, value)], **kw)
    assert len(req.filters) == 1, req.warnings
    return req.filters[0]


def bad(rt: str | None, params: list[tuple[str, str]], **kw) -> str:
    with pytest.raises(FhirError) as exc:
        parse_search(rt, params, **kw)
    assert exc.value.status == 400
    return str(exc.value)


# --- dates: every prefix, precision ranges -------------------------------------------------------

@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
def test_date_prefixes(prefix: str) -> None:
    f = one("Observation", "date", f"{prefix}2019-03")
    low, high = date_range("2019-03")
    assert f.values == (DateValue(prefix, low, high),)


def test_date_without_prefix_is_eq_and_keeps_precision() -> None:
    (v,) = one("Patient", "birthdate", "1975").values
    assert v.prefix == "eq" and (v.low, v.high) == date_range("1975")
    (v,) = one("Observation", "date", "2019-03-04T10:00:00+02:00").values
    assert v.low == date_range("2019-03-04T08:00:00Z")[0]


@pytest.mark.parametrize("value", ["2019-13", "yesterday", "gt", "xx2019", "2019-02-30", "20190101"])
def test_malformed_dates_are_400(value: str) -> None:
    assert "not a date" in bad("Observation", [("date", value)]) or "calendar" in bad("Observation", [("date", value)])


# --- numbers and quantities ----------------------------------------------------------------------

@pytest.mark.parametrize("text,low,high", [("100", 99.5, 100.5), ("100.00", 99.995, 100.005),
                                          ("1e2", 50, 150), ("0.5", 0.45, 0.55)])
def test_number_precision_range(text: str, low: float, high: float) -> None:
    (v,) = one("RiskAssessment", "probability", text).values
    assert v.prefix == "eq" and v.low == pytest.approx(low) and v.high == pytest.approx(high)


@pytest.mark.parametrize("prefix", ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"])
def test_number_prefixes(prefix: str) -> None:
    (v,) = one("RiskAssessment", "probability", f"{prefix}0.8").values
    assert v.prefix == prefix and v.value == 0.8


@pytest.mark.parametrize("value", ["abc", "1,2.3.4", "gt", "1e", "--1", "NaN", "Infinity"])
def test_malformed_numbers_are_400(value: str) -> None:
    bad("RiskAssessment", [("probability", value.split(",")[-1])])


def test_quantity_forms() -> None:
    f = one("Observation", "value-quantity", "gt5.4|http://unitsofmeasure.org|mg,le3||mg/dL,7")
    assert f.values == (
        QuantityValue(NumberValue("gt", 5.4, 5.35, 5.45), "http://unitsofmeasure.org", "mg"),
        QuantityValue(NumberValue("le", 3.0, 2.5, 3.5), None, "mg/dL"),
        QuantityValue(NumberValue("eq", 7.0, 6.5, 7.5), None, None),
    )
    bad("Observation", [("value-quantity", "5|a|b|c")])
    bad("Observation", [("value-quantity", "five||mg")])


# --- tokens, strings, uris -----------------------------------------------------------------------

def test_token_forms() -> None:
    f = one("Observation", "code", "http://loinc.org|8480-6,|abc,http://loinc.org|,1234")
    assert f.values == (TokenValue("http://loinc.org", "8480-6"), TokenValue("", "abc"),
                        TokenValue("http://loinc.org", None), TokenValue(None, "1234"))


def test_escaping() -> None:
    assert split_escaped(r"a\,b,c", ",") == [r"a\,b", "c"]
    f = one("Patient", "identifier", r"urn:x|a\|b\,c,d")
    assert f.values == (TokenValue("urn:x", "a|b,c"), TokenValue(None, "d"))
    assert one("Patient", "name", r"O\,Neil\\x").values == ("O,Neil\\x",)


@pytest.mark.parametrize("modifier", ["text", "not", "of-type", "missing"])
def test_token_modifiers(modifier: str) -> None:
    value = {"text": "blood", "not": "final", "missing": "true",
             "of-type": "http://terminology.hl7.org/CodeSystem/v2-0203|MR|123"}[modifier]
    code = "identifier" if modifier == "of-type" else "code" if modifier == "text" else "status"
    f = one("Observation" if code != "identifier" else "Patient", f"{code}:{modifier}", value)
    assert f.modifier == modifier
    if modifier == "of-type":
        assert f.values == (OfTypeValue("http://terminology.hl7.org/CodeSystem/v2-0203", "MR", "123"),)
    if modifier == "missing":
        assert f.missing is True


def test_of_type_needs_three_parts() -> None:
    bad("Patient", [("identifier:of-type", "MR|123")])


@pytest.mark.parametrize("modifier", ["exact", "contains"])
def test_string_modifiers(modifier: str) -> None:
    f = one("Patient", f"name:{modifier}", "Bērziņš")
    assert f.modifier == modifier and f.values == ("Bērziņš",)


def test_uri_modifiers() -> None:
    assert one("ValueSet", "url:below", "http://acme.org/fhir/").modifier == "below"
    assert one("ValueSet", "url:above", "http://acme.org/fhir/ValueSet/1").modifier == "above"


@pytest.mark.parametrize("name", ["name:text", "date:exact", "subject:above"])
def test_unsupported_modifiers_are_400(name: str) -> None:
    rt = "Patient" if name.startswith("name") else "Observation"
    assert "not supported" in bad(rt, [(name, "x")])


@pytest.mark.parametrize("name", ["code:in", "code:not-in", "code:below", "code:above"])
def test_terminology_modifiers_without_a_terminology_are_400(name: str, monkeypatch) -> None:  # noqa: ANN001
    from ehr_core.search import terminology
    monkeypatch.setattr(terminology, "source", None)
    assert "needs a terminology" in bad("Observation", [(name, "http://loinc.org|x")])


def test_unknown_modifier_is_400() -> None:
    assert "Unknown modifier" in bad("Observation", [("code:bogus", "x")])


@pytest.mark.parametrize("name", ["name", "code", "subject", "date", "value-quantity", "url",
                                  "code-value-quantity", "probability"])
def test_missing_on_every_type(name: str) -> None:
    rt = {"name": "Patient", "url": "ValueSet", "probability": "RiskAssessment"}.get(name, "Observation")
    assert one(rt, f"{name}:missing", "false").missing is False
    assert "true or false" in bad(rt, [(f"{name}:missing", "maybe")])


# --- references ----------------------------------------------------------------------------------

def test_reference_forms() -> None:
    f = one("Observation", "subject", "123,Patient/456,http://other.org/fhir/Patient/7,Patient/8/_history/2")
    assert f.values == (ReferenceValue(None, "123"), ReferenceValue("Patient", "456"),
                        ReferenceValue(url="http://other.org/fhir/Patient/7"), ReferenceValue("Patient", "8"))
    f = one("Procedure", "instantiates-canonical", "http://acme.org/PlanDefinition/x|2.0")
    assert f.values == (ReferenceValue(url="http://acme.org/PlanDefinition/x"),)


def test_reference_type_modifier() -> None:
    f = one("Observation", "subject:Patient", "123")
    assert f.modifier == "Patient" and f.values == (ReferenceValue("Patient", "123"),)
    bad("Observation", [("subject:Patient", "Group/1")])
    assert "cannot refer" in bad("Observation", [("subject:Practitioner", "1")])


def test_reference_identifier_modifier() -> None:
    f = one("Observation", "subject:identifier", "urn:oid:1.2|99")
    assert f.modifier == "identifier" and f.values == (TokenValue("urn:oid:1.2", "99"),)


def test_malformed_reference_is_400() -> None:
    bad("Observation", [("subject", "not a reference!")])


# --- composite -----------------------------------------------------------------------------------

def test_composite() -> None:
    f = one("Observation", "code-value-quantity", "http://loinc.org|8480-6$gt100||mm[Hg]")
    assert f.components == ("token", "quantity")
    assert f.values == (CompositeValue((TokenValue("http://loinc.org", "8480-6"),
                                        QuantityValue(NumberValue("gt", 100.0, 99.5, 100.5), None, "mm[Hg]"))),)
    assert "components" in bad("Observation", [("code-value-quantity", "http://loinc.org|8480-6")])
    bad("Observation", [("code-value-date", "1234$notadate")])


# --- chains and _has -----------------------------------------------------------------------------

def test_chain_two_levels() -> None:
    f = one("Observation", "encounter.service-provider.name", "boston")
    assert f.chain.target_types == ("Encounter",)
    inner = f.chain.filter
    assert inner.code == "service-provider" and inner.chain.target_types == ("Organization",)
    assert inner.chain.filter.values == ("boston",)


def test_chain_with_type_and_modifier() -> None:
    f = one("Observation", "subject:Patient.name:exact", "Ann")
    assert f.chain.target_types == ("Patient",) and f.chain.filter.modifier == "exact"


def test_chain_candidates_keep_only_types_with_the_parameter() -> None:
    f = one("Observation", "subject.birthdate", "1970")
    assert f.chain.target_types == ("Patient",)


def test_chain_through_non_reference_is_400() -> None:
    assert "not a reference" in bad("Observation", [("code.name", "x")])


def test_has_and_nested_has() -> None:
    f = one("Patient", "_has:Observation:patient:code", "1234")
    assert (f.has.source_type, f.has.reference, f.has.filter.code) == ("Observation", "patient", "code")
    f = one("Patient", "_has:Encounter:patient:_has:Condition:encounter:code", "44054006")
    assert f.has.filter.has.source_type == "Condition"


@pytest.mark.parametrize("name", ["_has:Observation:patient", "_has:Nope:patient:code", "_has::patient:code"])
def test_malformed_has_is_400(name: str) -> None:
    bad("Patient", [(name, "1")])


def test_has_unknown_reference_is_a_warning() -> None:
    req = parse_search("Patient", [("_has:Observation:bogus:code", "1")])
    assert not req.filters and "bogus" in req.warnings[0].diagnostics


# --- unknown parameters and strictness -----------------------------------------------------------

def test_unknown_parameter_is_warning_or_400_when_strict() -> None:
    req = parse_search("Patient", [("bogus", "1"), ("name", "x")])
    assert [f.code for f in req.filters] == ["name"]
    assert req.warnings[0].severity == "warning" and "bogus" in req.warnings[0].diagnostics
    assert ("bogus", "1") not in req.link_params
    assert "bogus" in bad("Patient", [("bogus", "1")], strict=True)


def test_comma_is_or_and_repeats_are_and() -> None:
    req = parse_search("Observation", [("code", "a,b"), ("code", "c")])
    assert [len(f.values) for f in req.filters] == [2, 1]


def test_empty_values_are_ignored() -> None:
    assert parse_search("Patient", [("name", "")]).filters == ()


# --- result parameters ---------------------------------------------------------------------------

def test_result_parameters() -> None:
    req = parse_search("Observation", [("_count", "5000"), ("_total", "accurate"), ("_summary", "data"),
                                       ("_elements", "code,Observation.subject"), ("_sort", "-date,_id")])
    assert req.count == MAX_COUNT and req.total == "accurate" and req.summary == "data"
    assert req.elements == ("code", "subject")
    assert req.sort == (SortKey("date", "date", True), SortKey("_id", "token", False))
    assert parse_search("Observation", []).count == 50
    assert parse_search("Observation", [("_summary", "count")]).total == "accurate"


@pytest.mark.parametrize("params", [[("_count", "-1")], [("_count", "ten")], [("_total", "all")],
                                    [("_summary", "yes")], [("_elements", "a b")]])
def test_malformed_result_parameters_are_400(params: list[tuple[str, str]]) -> None:
    bad("Observation", params)


def test_includes() -> None:
    req = parse_search("Observation", [("_include", "Observation:subject:Patient"), ("_include:iterate", "Patient:organization"),
                                       ("_revinclude", "Provenance:target"), ("_include", "*")])
    assert req.includes == (Include("Observation", "subject", "Patient"),
                            Include("Patient", "organization", None, iterate=True),
                            Include("Provenance", "target", None, reverse=True), Include(None, None, None))
    bad("Observation", [("_include", "Observation")])
    bad("Observation", [("_include", "Nope:subject")])
    bad("Observation", [("_include:deep", "Observation:subject")])
    assert parse_search("Observation", [("_include", "Observation:code")]).warnings


def test_system_search_types() -> None:
    req = parse_search(None, [("_type", "Patient,Practitioner"), ("name", "smith")])
    assert req.types == ("Patient", "Practitioner") and req.filters[0].code == "name"
    bad(None, [("_type", "Patient,Nope")])
    assert len(parse_search(None, []).types) > 140
    req = parse_search(None, [("name", "x")])             # not common to all types
    assert not req.filters and req.warnings


def test_compartment() -> None:
    req = parse_search("Observation", [], compartment=("Patient", "123"))
    assert req.compartment == ("Patient", "123") and req.path == "Patient/123/Observation"
    assert "not in the Patient compartment" in bad("Organization", [], compartment=("Patient", "1"))
    bad("Observation", [], compartment=("Encounter", "1"))


def test_cursor_is_checked() -> None:
    assert "not a cursor" in bad("Patient", [("_cursor", "garbage!")])
    req = parse_search("Patient", [("_sort", "name")])
    token = cursors.encode(cursors.Cursor(cursors.FORWARD, ("a", "1"), req.order_fingerprint))
    assert parse_search("Patient", [("_sort", "name"), ("_cursor", token)]).cursor.keys == ("a", "1")
    assert "another _sort" in bad("Patient", [("_sort", "-name"), ("_cursor", token)])


def test_unknown_type_is_400() -> None:
    bad("Nope", [])
