"""multipart/related bodies (RFC 2387), as DICOMweb sends and expects them (PS3.18 8.6.1.2).

Parsing works on the whole body in memory: STOW requests are bounded by EVK_MAX_BODY_BYTES.
Writing is a generator, so a study's instances stream out one part at a time.
"""
from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from imaging.errors import BadRequest


@dataclass(frozen=True)
class Part:
    headers: dict[str, str]      # lower-case names
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "")


def media_type_params(value: str) -> tuple[str, dict[str, str]]:
    """``multipart/related; type="application/dicom"; boundary=x`` → (media type, params)."""
    pieces = _split_params(value)
    media = pieces[0].strip().lower() if pieces else ""
    params: dict[str, str] = {}
    for piece in pieces[1:]:
        if "=" in piece:
            k, v = piece.split("=", 1)
            params[k.strip().lower()] = v.strip().strip('"')
    return media, params


def parse(body: bytes, content_type: str) -> list[Part]:
    media, params = media_type_params(content_type)
    if media != "multipart/related":
        raise BadRequest(f"expected multipart/related, got {media or 'no Content-Type'}")
    boundary = params.get("boundary")
    if not boundary:
        raise BadRequest("the multipart/related Content-Type has no boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    parts: list[Part] = []
    pos = body.find(delimiter)
    if pos < 0:
        raise BadRequest("the body has no multipart boundary")
    while True:
        pos += len(delimiter)
        if body[pos:pos + 2] == b"--":
            break                                  # the close delimiter
        head_end = body.find(b"\r\n\r\n", pos)
        if head_end < 0:
            raise BadRequest(f"part {len(parts) + 1} has no header/body separator")
        headers = _headers(body[pos:head_end])
        nxt = body.find(b"\r\n" + delimiter, head_end + 4)
        if nxt < 0:
            raise BadRequest(f"part {len(parts) + 1} is not closed by a boundary")
        parts.append(Part(headers, body[head_end + 4:nxt]))
        pos = nxt + 2
    return parts


def new_boundary() -> str:
    return "evk-" + secrets.token_hex(16)


def content_type(part_type: str, boundary: str, **params: str) -> str:
    extra = "".join(f"; {k.replace('_', '-')}={v}" for k, v in params.items())
    return f'multipart/related; type="{part_type}"; boundary={boundary}{extra}'


def stream(parts: Iterable[tuple[str, bytes]], boundary: str) -> Iterator[bytes]:
    """Yield the encoded body for ``(content type, bytes)`` parts."""
    delimiter = f"--{boundary}\r\n".encode()
    for ctype, data in parts:
        yield delimiter + f"Content-Type: {ctype}\r\nContent-Length: {len(data)}\r\n\r\n".encode()
        yield data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def _headers(raw: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n"):
        if ":" in line:
            k, v = line.split(":", 1)
            out[k.strip().lower()] = v.strip()
    return out


def _split_params(value: str) -> list[str]:
    """Split on ';' outside quotes."""
    out, cur, quoted = [], [], False
    for ch in value:
        if ch == '"':
            quoted = not quoted
        if ch == ";" and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out
