"""QIDO-RS answered from our index (PS3.18 10.6; matching per PS3.4 C.2.2.2), on both engines.

One data set per engine for the whole module: the DICOMDIR's 2 patients / 6 studies / 13 series,
plus single instances of other modalities and a patient with an accented name.
"""
from __future__ import annotations

import pytest

from imaging.backends.local import LocalStore
from imaging.ingest import ingest
from tests.imaging.conftest import client_for, make_archive
from tests.imaging.dicom_files import TESTS
from tests.imaging.dicom_files import CT, MR, SEG, SR, US_JPEG_MULTIFRAME, dicomdir_instances, encode, variant

ACCENTED = variant(CT, name="Bērziņš^Jānis", patient_id="ACC-PAT", accession="ACC-77", fresh=True)


@pytest.fixture(scope="module")
def qido(module_service, tmp_path_factory):  # noqa: ANN001
    tmp = tmp_path_factory.mktemp("qido")
    archive = make_archive(module_service, LocalStore(tmp / "store"), tmp)
    items = [(p.read_bytes(), str(p)) for p in dicomdir_instances()]
    items += [(p.read_bytes(), str(p)) for p in (MR, US_JPEG_MULTIFRAME, SEG, SR)]
    items.append((encode(ACCENTED), "accented"))
    report = ingest(archive, items, TESTS)
    assert not report.failed, report.failed
    return client_for(archive, "admin")          # none of these studies is linked to a card


def _get(client, url: str, **params) -> list[dict]:  # noqa: ANN001, ANN003
    resp = client.get(url, params=params)
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/dicom+json")
    return resp.json()


def _values(results: list[dict], tag: str) -> list:
    return [r[tag]["Value"][0] if "Value" in r.get(tag, {}) else None for r in results]


def test_all_studies_with_default_attributes(qido):
    studies = _get(qido, "/dicomweb/studies")
    assert len(studies) == 11
    peter = next(s for s in studies if s["00100010"].get("Value") == [{"Alphabetic": "Doe^Peter"}]
                 and s["00201208"]["Value"] == [11])
    assert peter["00100020"] == {"vr": "LO", "Value": ["98890234"]}
    assert peter["00080061"] == {"vr": "CS", "Value": ["MR"]}
    assert peter["00201206"]["Value"] == [3] and peter["00080056"]["Value"] == ["ONLINE"]
    uid = peter["0020000D"]["Value"][0]
    assert peter["00081190"]["Value"] == [f"http://testserver/dicomweb/studies/{uid}"]


@pytest.mark.parametrize("params, count", [
    ({"PatientID": "98890234"}, 4),
    ({"00100020": "77654033"}, 2),                              # tag instead of keyword
    ({"PatientID": "9889*"}, 4),
    ({"PatientName": "doe*"}, 6),                               # PN: case-insensitive wildcard
    ({"PatientName": "DOE^PETER"}, 4),
    ({"PatientName": "*arch*"}, 2),
    ({"PatientName": "berzins*"}, 1),                           # accents ignored too
    ({"PatientName": "Bērziņš^Jānis"}, 1),
    ({"PatientName": "Doe^Pet?r"}, 4),
    ({"StudyDate": "20010101"}, 2),
    ({"StudyDate": "20010101-20031231"}, 6),
    ({"StudyDate": "-19991231"}, 1),
    ({"StudyDate": "20030505-"}, 3 + 3),                        # the MR studies and the newer samples
    ({"ModalitiesInStudy": "CT"}, 3),
    ({"ModalitiesInStudy": "CR,US"}, 2),
    ({"Modality": "SEG"}, 1),                                   # a series-level key at study level
    ({"AccessionNumber": "ACC-77"}, 1),
    ({"AccessionNumber": "acc-77"}, 0),                         # other strings are case-sensitive
    ({"AccessionNumber": "ACC*"}, 1),
    ({"PatientID": "98890234", "ModalitiesInStudy": "CT"}, 1),
    ({"PatientName": "nobody"}, 0),
])
def test_study_matching(qido, params, count):
    assert len(_get(qido, "/dicomweb/studies", **params)) == count


def test_uid_list_matching(qido):
    uids = _values(_get(qido, "/dicomweb/studies", PatientID="98890234"), "0020000D")[:2]
    found = _get(qido, "/dicomweb/studies", StudyInstanceUID=",".join(uids))
    assert sorted(_values(found, "0020000D")) == sorted(uids)


def test_paging(qido):
    everything = _values(_get(qido, "/dicomweb/studies"), "0020000D")
    resp = qido.get("/dicomweb/studies", params={"limit": 4, "offset": 0})
    assert "more results" in resp.headers["warning"]
    pages = [_values(_get(qido, "/dicomweb/studies", limit=4, offset=o), "0020000D") for o in (0, 4, 8)]
    assert [len(p) for p in pages] == [4, 4, 3] and sum(pages, []) == everything


def test_includefield(qido):
    one = _get(qido, "/dicomweb/studies", AccessionNumber="ACC-77", includefield="InstitutionName,00181030")
    assert one[0]["00080080"]["vr"] == "LO"                      # from the stored header
    instance = _get(qido, "/dicomweb/instances", SOPInstanceUID=ACCENTED.SOPInstanceUID, includefield="all")[0]
    assert instance["00280010"]["Value"] == [128] and instance["00280100"]["Value"] == [16]
    assert "7FE00010" in instance                                # bulk data stays a URI, not inline
    assert "InlineBinary" not in instance["7FE00010"]


def test_series_and_instances(qido):
    study = _get(qido, "/dicomweb/studies", PatientID="98890234", StudyDate="20010101")[0]
    uid = study["0020000D"]["Value"][0]
    series = _get(qido, f"/dicomweb/studies/{uid}/series")
    assert _values(series, "00200011") == [4, 5]
    assert {s["00080060"]["Value"][0] for s in series} == {"CT"}
    assert "00100010" not in series[0]                          # scoped to a study: no study attributes
    s_uid = series[0]["0020000E"]["Value"][0]
    instances = _get(qido, f"/dicomweb/studies/{uid}/series/{s_uid}/instances")
    numbers = _values(instances, "00200013")
    assert numbers == sorted(numbers) and len(numbers) == series[0]["00201209"]["Value"][0]
    assert instances[0]["00280100"]["Value"] == [16] and instances[0]["00080016"]["Value"]
    across = _get(qido, "/dicomweb/series", PatientID="98890234", Modality="MR")
    assert len(across) == 7 and across[0]["00100010"]["Value"] == [{"Alphabetic": "Doe^Peter"}]
    assert len(_get(qido, f"/dicomweb/studies/{uid}/instances")) == 7
    multi = _get(qido, "/dicomweb/instances", NumberOfFrames="30")
    assert len(multi) == 1 and multi[0]["00280008"]["Value"] == [30]


def test_bad_queries(qido):
    assert qido.get("/dicomweb/studies", params={"NotAnAttribute": "x"}).status_code == 400
    assert qido.get("/dicomweb/studies", params={"StudyDate": "2001-01-01"}).status_code == 400
    assert qido.get("/dicomweb/studies", params={"limit": "-1"}).status_code == 400
    resp = qido.get("/dicomweb/studies", params={"InstitutionName": "x"})
    assert resp.status_code == 200 and "not supported for matching" in resp.headers["warning"]
    assert qido.get("/dicomweb/studies/1.2.3/series").status_code == 404
