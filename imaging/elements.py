"""The top-level elements of a PS3.10 file, read without pydicom: the fast path of parse.py.

Reading a whole data set with pydicom (a Python object per element, a few hundred per image)
was most of the ingest time, while the index needs about twenty top-level values. This walks the
encoding of PS3.5 7.1 (element headers; sequences and encapsulated pixel data of undefined
length, PS3.5 7.5 and A.4, are stepped over item by item) and keeps the raw bytes of the wanted
tags. It reads only the plain case — preamble and "DICM", explicit or implicit VR little endian
(every encapsulated syntax is explicit VR little endian) — and raises ``Unusual`` for anything
else (big endian, deflate, odd structure, UN of undefined length), so pydicom reads those
instances as before and refuses what is wrong with them in its own words. A value that runs past
the end of the bytes raises ``Truncated``.
"""
from __future__ import annotations

import struct

IMPLICIT_VR_LE = "1.2.840.10008.1.2"
NOT_PLAIN = {"1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99"}     # big endian, deflated
LONG_VRS = {b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UN", b"UR", b"UT", b"SV", b"UV"}
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQUENCE_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
_U32 = struct.Struct("<I")
_U16x2 = struct.Struct("<HH")


class Unusual(Exception):
    """Not the plain case: leave it to pydicom."""


class Truncated(ValueError):
    pass


def read_top_level(data: bytes, wanted: frozenset[int]) -> tuple[str, dict[int, bytes]]:
    """(Transfer Syntax UID, {tag: value bytes}) for the ``wanted`` top-level tags present."""
    if len(data) < 132 or data[128:132] != b"DICM":
        raise Unusual("no preamble")
    pos, meta = 132, {}
    while data[pos:pos + 2] == b"\x02\x00":          # File Meta Information: explicit VR LE (PS3.10 7.1)
        tag, length, pos, _ = _header(data, pos, True)
        if length == UNDEFINED:
            raise Unusual("file meta element of undefined length")
        meta[tag] = data[pos:pos + length]
        pos = _end(data, pos, length)
    syntax = meta.get(0x00020010, b"").rstrip(b"\x00 ").decode("ascii", "replace")
    if not syntax or syntax in NOT_PLAIN:
        raise Unusual(f"transfer syntax {syntax!r}")
    explicit = syntax != IMPLICIT_VR_LE
    out: dict[int, bytes] = {}
    while pos < len(data):
        tag, length, pos, vr = _header(data, pos, explicit)
        if tag >> 16 == 0xFFFE:
            raise Unusual("an item tag at the top level")
        if length == UNDEFINED:
            if vr == b"UN":
                raise Unusual("UN of undefined length (implicit VR inside)")
            pos = _skip_items(data, pos, explicit)
        else:
            if tag in wanted:
                out[tag] = data[pos:pos + length]
            pos = _end(data, pos, length)
    return syntax, out


def _header(data: bytes, pos: int, explicit: bool) -> tuple[int, int, int, bytes]:
    """(tag, value length, value offset, VR) of the element at ``pos`` (PS3.5 7.1.1-7.1.3)."""
    if pos + 8 > len(data):
        raise Truncated(f"the file ends inside an element header at byte {pos}")
    group, element = _U16x2.unpack_from(data, pos)
    tag = group << 16 | element
    if group == 0xFFFE:                               # items and delimiters carry no VR
        return tag, _U32.unpack_from(data, pos + 4)[0], pos + 8, b""
    if not explicit:
        return tag, _U32.unpack_from(data, pos + 4)[0], pos + 8, b""
    vr = data[pos + 4:pos + 6]
    if vr in LONG_VRS:
        if pos + 12 > len(data):
            raise Truncated(f"the file ends inside an element header at byte {pos}")
        return tag, _U32.unpack_from(data, pos + 8)[0], pos + 12, vr
    if not (vr.isalpha() and vr.isupper()):
        raise Unusual(f"no VR at byte {pos}")
    return tag, data[pos + 6] | data[pos + 7] << 8, pos + 8, vr


def _skip_items(data: bytes, pos: int, explicit: bool) -> int:
    """Past a sequence (or encapsulated pixel data) of undefined length: its items, each of
    defined length or walked to its Item Delimitation, up to the Sequence Delimitation."""
    while True:
        tag, length, pos, _ = _header(data, pos, explicit)
        if tag == SEQUENCE_END:
            return pos
        if tag != ITEM:
            raise Unusual(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) where an item was expected")
        if length != UNDEFINED:
            pos = _end(data, pos, length)
            continue
        while True:                                   # an item of undefined length: its elements
            tag, length, pos, vr = _header(data, pos, explicit)
            if tag == ITEM_END:
                break
            if length == UNDEFINED:
                if vr == b"UN":
                    raise Unusual("UN of undefined length (implicit VR inside)")
                pos = _skip_items(data, pos, explicit)
            else:
                pos = _end(data, pos, length)


def _end(data: bytes, pos: int, length: int) -> int:
    end = pos + length
    if end > len(data):
        raise Truncated(f"the file is truncated: {end - len(data)} bytes of an element are missing")
    return end
