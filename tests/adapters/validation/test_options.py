"""The reference validator's verdict-changing switches (``ValidationOptions``): its defaults
unless told, and what each switch turns into an error."""
from __future__ import annotations

import pytest

from adapters.validation import StructureValidator, ValidationOptions


def found(resource: dict, **options: bool) -> set[tuple[str, str, str]]:
    v = StructureValidator(options=ValidationOptions(**options))
    return {(i.severity, i.rule, i.expression[0]) for i in v.validate(resource)}


def patient(name: str) -> dict:
    return {"resourceType": "Patient", "name": [{"text": name}]}


def test_markup_in_a_string_is_information_by_default_and_an_error_with_security_checks() -> None:
    script = patient("Standard <script>alert(1)</script>")
    assert found(script) == {("information", "content-html-in-string", "Patient.name[0].text")}
    assert found(script, security_checks=True) == {("error", "content-html-in-string", "Patient.name[0].text")}


@pytest.mark.parametrize("text", ["Bērziņš", "BP < 120 and > 80", "a<b", "x <= 3", "<>", "< 5 mg>"])
def test_text_that_is_not_a_tag_passes_security_checks(text: str) -> None:
    assert found(patient(text), security_checks=True) == set()


def test_markup_in_markdown_is_a_warning_unless_html_is_refused() -> None:
    note = {"resourceType": "Communication", "status": "completed", "note": [{"text": "see <resource type>"}]}
    assert found(note) == {("warning", "content-html-in-markdown", "Communication.note[0].text")}
    assert found(note, html_in_markdown=False) == {("error", "content-html-in-markdown", "Communication.note[0].text")}


@pytest.mark.parametrize("url, example", [
    ("http://example.org/fhir/StructureDefinition/x", True),
    ("https://repository.example.org/fhir/DocumentReference/1", True),
    ("http://acme.com/ids", True),
    ("https://user@example.com:8443/", True),
    ("https://www.e-veseliba.lv/fhir/x", False),
    ("http://notexample.org/x", False),
    ("http://example.org.lv/x", False),
    ("urn:uuid:0b0e5a38-1c11-4c4e-9a9e-000000000001", False),
])
def test_example_urls_are_refused_only_when_examples_are_not_allowed(url: str, example: bool) -> None:
    ref = {"resourceType": "DocumentReference", "status": "current",
           "content": [{"attachment": {"url": url}}]}
    assert found(ref) == set()
    expected = {("error", "content-example-url", "DocumentReference.content[0].attachment.url")} if example else set()
    assert found(ref, example_urls=False) == expected


def test_an_extension_url_counts_too() -> None:
    p = {"resourceType": "Patient", "extension": [{"url": "http://example.org/fhir/StructureDefinition/x",
                                                   "valueString": "v"}]}
    assert ("error", "content-example-url", "Patient.extension[0].url") in found(p, example_urls=False)


def test_contained_resources_can_be_left_unjudged() -> None:
    condition = {"resourceType": "Condition", "subject": {"reference": "Patient/1"},
                 "contained": [{"resourceType": "Practitioner", "id": "x" * 65}]}
    assert {rule for _, rule, _ in found(condition)} >= {"struct-primitive-format", "dom-3"}
    assert found(condition, contained=False) == set()

