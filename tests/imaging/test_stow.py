"""STOW-RS over HTTP (PS3.18 10.5): 200 all stored, 202 partial with Failed SOP Sequence, 409 none."""
from __future__ import annotations

from tests.imaging.dicom_files import CT, MR, NM_JPEG_LOSSLESS, encode, variant
from tests.imaging.multipart_helpers import body

FAILED, REFERENCED, RETRIEVE_URL, FAILURE_REASON = "00081198", "00081199", "00081190", "00081197"


def test_all_stored_is_200_with_retrieve_urls(client):
    a = variant(CT, fresh=True)
    b = variant(CT, fresh=True, study=a.StudyInstanceUID, series=a.SeriesInstanceUID)
    content, ctype = body([encode(a), encode(b)])
    resp = client.post("/dicomweb/studies", content=content, headers={"Content-Type": ctype})
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("application/dicom+json")
    out = resp.json()
    assert out[RETRIEVE_URL]["Value"] == [f"http://testserver/dicomweb/studies/{a.StudyInstanceUID}"]
    refs = out[REFERENCED]["Value"]
    assert [r["00081155"]["Value"][0] for r in refs] == [a.SOPInstanceUID, b.SOPInstanceUID]
    assert refs[0][RETRIEVE_URL]["Value"][0].endswith(
        f"/studies/{a.StudyInstanceUID}/series/{a.SeriesInstanceUID}/instances/{a.SOPInstanceUID}")
    assert FAILED not in out
    again = client.post("/dicomweb/studies", content=content, headers={"Content-Type": ctype})
    assert again.status_code == 200                                     # storing again is fine, changes nothing


def test_partial_failure_is_202_naming_each_failure(client):
    good = variant(MR, fresh=True)
    clash = variant(NM_JPEG_LOSSLESS, fresh=True, study=good.StudyInstanceUID)     # another patient
    content, ctype = body([encode(good), b"garbage", encode(clash)])
    resp = client.post("/dicomweb/studies", content=content, headers={"Content-Type": ctype})
    assert resp.status_code == 202, resp.text
    out = resp.json()
    failed = out[FAILED]["Value"]
    assert [f[FAILURE_REASON]["Value"][0] for f in failed] == [0xC000, 0xC410]
    assert "00081155" not in failed[0] or "Value" not in failed[0]["00081155"]
    assert failed[1]["00081155"]["Value"] == [clash.SOPInstanceUID]
    assert [r["00081155"]["Value"][0] for r in out[REFERENCED]["Value"]] == [good.SOPInstanceUID]
    warning = resp.headers["warning"]
    assert "part 2" in warning and "not a readable DICOM file" in warning and clash.SOPInstanceUID in warning


def test_nothing_stored_is_409(client):
    content, ctype = body([b"one", b"two"])
    resp = client.post("/dicomweb/studies", content=content, headers={"Content-Type": ctype})
    assert resp.status_code == 409 and len(resp.json()[FAILED]["Value"]) == 2


def test_store_into_a_named_study(client):
    ds = variant(CT, fresh=True)
    content, ctype = body([encode(ds)])
    wrong = client.post("/dicomweb/studies/1.2.3.4", content=content, headers={"Content-Type": ctype})
    assert wrong.status_code == 409
    assert wrong.json()[FAILED]["Value"][0][FAILURE_REASON]["Value"] == [0xC409]
    right = client.post(f"/dicomweb/studies/{ds.StudyInstanceUID}", content=content, headers={"Content-Type": ctype})
    assert right.status_code == 200


def test_media_types(local_client):
    ds = encode(variant(CT, fresh=True))
    assert local_client.post("/dicomweb/studies", content=ds,
                             headers={"Content-Type": "application/dicom"}).status_code == 415
    content, ctype = body([b"{}"], part_type="application/dicom+json")
    assert local_client.post("/dicomweb/studies", content=content, headers={"Content-Type": ctype}).status_code == 415
    assert local_client.post("/dicomweb/studies", content=b"--x--",
                             headers={"Content-Type": "multipart/related; type=\"application/dicom\""}).status_code == 400
    content, ctype = body([ds], per_part_type=False)                    # parts may leave out their type
    assert local_client.post("/dicomweb/studies", content=content, headers={"Content-Type": ctype}).status_code == 200
