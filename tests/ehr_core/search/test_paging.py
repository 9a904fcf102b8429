"""Paging that stays correct while data changes (keyset cursors), and search through the REST core."""
from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

from tests.utils.fhir import call


def _patient(family: str) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family}], "gender": "female"}


def _page(handler, url: str) -> dict:  # noqa: ANN001
    resp = call(handler, "GET", url)
    assert resp.status == 200, resp.body
    return resp.body


def _link(bundle: dict, relation: str) -> str | None:
    for link in bundle["link"]:
        if link["relation"] == relation:
            parts = urlsplit(link["url"])
            return parts.path.split("/fhir/", 1)[1] + "?" + parts.query
    return None


def _families(bundle: dict) -> list[str]:
    return [e["resource"]["name"][0]["family"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"]


def test_pages_neither_repeat_nor_skip_when_resources_change(handler) -> None:  # noqa: ANN001
    ids = {}
    for family in ["b", "d", "f", "h", "j", "l", "n", "p"]:
        ids[family] = call(handler, "POST", "Patient", _patient(family)).body["id"]
    first = _page(handler, "Patient?gender=female&_sort=family&_count=3")
    assert _families(first) == ["b", "d", "f"]
    # Between page requests: one resource sorts before the cursor, one after; one on page 2 goes away.
    call(handler, "POST", "Patient", _patient("a"))
    call(handler, "POST", "Patient", _patient("k"))
    call(handler, "DELETE", f"Patient/{ids['h']}")
    second = _page(handler, _link(first, "next"))
    assert _families(second) == ["j", "k", "l"]
    third = _page(handler, _link(second, "next"))
    assert _families(third) == ["n", "p"] and _link(third, "next") is None
    back = _page(handler, _link(third, "previous"))
    assert _families(back) == ["j", "k", "l"]
    assert _families(_page(handler, _link(back, "previous"))) == ["a", "b", "d", "f"][-3:]


def test_links_carry_the_understood_query(handler) -> None:  # noqa: ANN001
    for family in ["x1", "x2", "x3"]:
        call(handler, "POST", "Patient", _patient(family))
    bundle = _page(handler, "Patient?family=x&_count=2&bogus=1&_total=accurate")
    assert bundle["type"] == "searchset" and bundle["total"] == 3
    self_query = dict(parse_qsl(urlsplit(bundle["link"][0]["url"]).query))
    assert self_query == {"family": "x", "_count": "2", "_total": "accurate"}
    outcome = [e for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert "bogus" in outcome[0]["resource"]["issue"][0]["diagnostics"]
    strict = call(handler, "GET", "Patient?family=x&bogus=1", prefer="handling=strict")
    assert strict.status == 400


def test_malformed_value_is_400_with_outcome(handler) -> None:  # noqa: ANN001
    resp = call(handler, "GET", "Patient?birthdate=gt19-01")
    assert resp.status == 400
    assert resp.body["resourceType"] == "OperationOutcome" and "not a date" in resp.body["issue"][0]["diagnostics"]


def test_compartment_and_everything_through_rest(handler) -> None:  # noqa: ANN001
    pid = call(handler, "POST", "Patient", _patient("e")).body["id"]
    org = call(handler, "POST", "Organization", {"resourceType": "Organization", "name": "Slimnīca"}).body["id"]
    obs = {"resourceType": "Observation", "status": "final", "code": {"text": "x"},
           "subject": {"reference": f"Patient/{pid}"}, "performer": [{"reference": f"Organization/{org}"}]}
    oid = call(handler, "POST", "Observation", obs).body["id"]
    call(handler, "POST", "Observation", dict(obs, subject={"reference": "Patient/someone-else"}))
    found = _page(handler, f"Patient/{pid}/Observation")
    assert [e["resource"]["id"] for e in found["entry"]] == [oid]
    everything = _page(handler, f"Patient/{pid}/$everything")
    keys = {(e["resource"]["resourceType"], e["resource"]["id"]) for e in everything["entry"]}
    assert keys == {("Patient", pid), ("Observation", oid), ("Organization", org)}
    assert "entry" not in _page(handler, f"Patient/{pid}/$everything?_since=2999-01-01")
    paged = _page(handler, f"Patient/{pid}/$everything?_count=2")
    rest = _page(handler, _link(paged, "next"))
    assert {(e["resource"]["resourceType"], e["resource"]["id"]) for e in paged["entry"] + rest["entry"]} == keys
