"""DICOM JSON elements (PS3.18 F.2) for values we hold in the index."""
from __future__ import annotations

from functools import cache

from pydicom.datadict import dictionary_VR, tag_for_keyword

from imaging.errors import BadRequest

NUMERIC_VRS = {"IS", "US", "UL", "SS", "SL", "FL", "FD", "DS", "SV", "UV"}


@cache
def tag_of(keyword: str) -> str:
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(keyword)
    return f"{tag:08X}"


@cache
def vr_of(keyword: str) -> str:
    return dictionary_VR(keyword).split(" or ")[0]


def resolve(attribute: str) -> tuple[str, str]:
    """A QIDO attribute id — keyword or 8 hex digits (PS3.18 8.3.4.1) — as (keyword, tag)."""
    from pydicom.datadict import keyword_for_tag
    text = attribute.strip()
    if len(text) == 8 and all(c in "0123456789abcdefABCDEF" for c in text):
        keyword = keyword_for_tag(int(text, 16))
        if not keyword:
            raise BadRequest(f"{text} is not an attribute of the DICOM dictionary")
        return keyword, text.upper()
    try:
        return text, tag_of(text)
    except KeyError:
        raise BadRequest(f"{text!r} is not a DICOM attribute keyword") from None


def element(keyword: str, value) -> dict:  # noqa: ANN001 - str, int, list or None
    """One attribute as DICOM JSON; None or "" gives an attribute without a value."""
    vr = vr_of(keyword)
    if type(value) is str and vr not in NUMERIC_VRS and vr != "PN":     # most values: one string
        return {"vr": vr, "Value": [value]} if value else {"vr": vr}
    values = value if isinstance(value, list) else [value]
    values = [v for v in values if v is not None and v != ""]
    if not values:
        return {"vr": vr}
    if vr == "PN":
        return {"vr": vr, "Value": [{"Alphabetic": str(v)} for v in values]}
    if vr in NUMERIC_VRS:
        return {"vr": vr, "Value": [int(v) if vr not in ("DS", "FL", "FD") else float(v) for v in values]}
    return {"vr": vr, "Value": [str(v) for v in values]}
