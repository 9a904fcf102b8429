"""Building and reading multipart/related bodies in tests, independently of imaging/dicomweb/multipart.py."""
from __future__ import annotations

import email.parser
import email.policy


def body(parts: list[bytes], *, part_type: str = "application/dicom", boundary: str = "test-boundary-42",
         per_part_type: bool = True) -> tuple[bytes, str]:
    chunks = []
    for data in parts:
        head = f"--{boundary}\r\n" + (f"Content-Type: {part_type}\r\n" if per_part_type else "") + "\r\n"
        chunks.append(head.encode() + data + b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f'multipart/related; type="{part_type}"; boundary="{boundary}"'


def parts(content: bytes, content_type: str) -> list[tuple[str, bytes]]:
    """(Content-Type, payload) of each part, parsed with the standard library's MIME parser."""
    raw = f"Content-Type: {content_type}\r\n\r\n".encode() + content
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(raw)
    assert msg.is_multipart(), content_type
    return [(p.get("Content-Type"), p.get_payload(decode=True)) for p in msg.iter_parts()]
