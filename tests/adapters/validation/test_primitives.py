"""Each R4 primitive type's checker, with good and bad JSON values (datatypes.html#primitive)."""
from __future__ import annotations

import pytest

from adapters.validation.primitives import checker_for
from ehr_core.definitions import structures

PRIMITIVES = {name: sd.get("regex") for name, sd in structures().items() if sd["kind"] == "primitive-type"}

GOOD = {
    "boolean": [True, False],
    "integer": [0, -5, 2**31 - 1, -2**31],
    "unsignedInt": [0, 7],
    "positiveInt": [1, 2**31 - 1],
    "decimal": [0, -1.5, 3, 1e10],
    "string": ["a", " padded ", "line\nbreak", "ā ē ī ū"],
    "markdown": ["# title\n\n*x*"],
    "code": ["final", "a b", "urn:x"],
    "id": ["a-B.9", "x" * 64],
    "uri": ["http://x.org/a", "urn:oid:1.2", "relative/path", "#frag"],
    "url": ["https://x.org"],
    "canonical": ["http://hl7.org/fhir/ValueSet/x|4.0.1"],
    "oid": ["urn:oid:1.2.840.10008"],
    "uuid": ["urn:uuid:c757873d-ec9a-4326-a141-556f43239520"],
    "date": ["2024", "2024-02", "2024-02-29", "0001-01-01"],
    "dateTime": ["2024", "2024-02-29", "2024-02-29T23:59:59Z", "2024-03-01T10:00:00.123+02:00",
                 "2016-12-31T23:59:60Z"],
    "instant": ["2024-03-01T10:00:00Z", "2024-03-01T10:00:00.5-05:00"],
    "time": ["10:00:00", "23:59:59.999"],
    "base64Binary": ["aGVsbG8=", "aGVs\nbG8=", "AAAA"],
    "xhtml": ['<div xmlns="http://www.w3.org/1999/xhtml">x</div>'],
}

BAD = {
    "boolean": [("true", "struct-type"), (1, "struct-type"), (None, "struct-type")],
    "integer": [(True, "struct-type"), (1.0, "struct-type"), ("1", "struct-type"),
                (2**31, "struct-primitive-range")],
    "unsignedInt": [(-1, "struct-primitive-range")],
    "positiveInt": [(0, "struct-primitive-range")],
    "decimal": [(True, "struct-type"), ("1.5", "struct-type"), (float("inf"), "struct-primitive-range")],
    "string": [("", "struct-empty"), (5, "struct-type"), ("a\x07b", "struct-primitive-control"),
               ("x" * (1024 * 1024 + 1), "struct-primitive-length")],
    "code": [(" final", "struct-primitive-whitespace"), ("final\n", "struct-primitive-whitespace"),
             ("a  b", "struct-primitive-format"), ("", "struct-empty")],
    "id": [("a_b", "struct-primitive-format"), ("x" * 65, "struct-primitive-format"),
           (" a", "struct-primitive-whitespace")],
    "uri": [("http://x y", "struct-primitive-format")],
    "oid": [("1.2.3", "struct-primitive-format"), ("urn:oid:01.2", "struct-primitive-format")],
    "uuid": [("urn:uuid:C757873D-EC9A-4326-A141-556F43239520", "struct-primitive-format")],
    "date": [("16.11.1975", "struct-primitive-format"), ("2024-02-30", "struct-primitive-date"),
             ("2023-02-29", "struct-primitive-date"), ("2024-2-1", "struct-primitive-format"),
             ("0000", "struct-primitive-format")],
    "dateTime": [("2024-03-01T10:00:00", "struct-primitive-timezone"),
                 ("2024-03-01T10:00Z", "struct-primitive-format"),
                 ("2024-06-31T10:00:00Z", "struct-primitive-date"),
                 ("2024-03-01 10:00:00Z", "struct-primitive-format")],
    "instant": [("2024-03-01", "struct-primitive-format"), ("2024-03-01T10:00:00", "struct-primitive-timezone")],
    "time": [("24:00:00", "struct-primitive-format"), ("10:00", "struct-primitive-format")],
    "base64Binary": [("%%%2@()()", "struct-primitive-format"), ("abc", "struct-primitive-format")],
    "xhtml": [("", "struct-empty")],
}


def test_every_primitive_type_is_covered() -> None:
    assert set(PRIMITIVES) == set(GOOD)


@pytest.mark.parametrize("type_name, value", [(t, v) for t, vs in GOOD.items() for v in vs])
def test_good_values(type_name: str, value: object) -> None:
    assert checker_for(type_name, PRIMITIVES[type_name])(value) is None


@pytest.mark.parametrize("type_name, value, rule", [(t, v, r) for t, vs in BAD.items() for v, r in vs],
                         ids=lambda x: str(x)[:30])
def test_bad_values(type_name: str, value: object, rule: str) -> None:
    problem = checker_for(type_name, PRIMITIVES[type_name])(value)
    assert problem is not None and problem[0] == rule
