"""Reading plain-text files safely: binary detection, encoding fallback, bounded-memory streaming."""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from pathlib import Path

SNIFF_BYTES = 8192
READ_BYTES = 1 << 20
BLOCK_CHARS = 1 << 16
_CONTROL = set(range(0, 9)) | {11} | set(range(14, 32)) | {127}


class NotTextError(ValueError):
    """The file holds binary data, not text."""


def detect_encoding(path: Path) -> str:
    """'utf-8' (BOM allowed) when the whole file decodes as UTF-8, else 'cp1252', else 'latin-1'.

    Raises `NotTextError` for binary content (NUL bytes or many control characters at the start).
    Reads the file in 1 MiB pieces, so memory stays bounded for any size.
    """
    with path.open("rb") as f:
        head = f.read(SNIFF_BYTES)
    if b"\0" in head or (head and sum(b in _CONTROL for b in head) / len(head) > 0.05):
        raise NotTextError("binary content, not text")
    for encoding in ("utf-8-sig", "cp1252"):
        if _decodes(path, encoding):
            return encoding
    return "latin-1"


def _decodes(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with path.open("rb") as f:
            while piece := f.read(READ_BYTES):
                decoder.decode(piece)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def read_text(path: Path) -> str:
    """The whole file as text, with the detected encoding (for formats that are parsed whole)."""
    return path.read_text(encoding=detect_encoding(path), errors="replace")


def iter_blocks(path: Path, block_chars: int = BLOCK_CHARS) -> Iterator[str]:
    """Yield the text in blocks of about `block_chars` characters, cut at paragraph breaks where possible.

    Cuts prefer a blank line, then a line break, then a space, so a paragraph is only split when it is longer
    than a block. Memory stays bounded by a few blocks whatever the file size.
    """
    encoding = detect_encoding(path)
    buffer = ""
    with path.open(encoding=encoding, errors="replace", newline=None) as f:
        while piece := f.read(block_chars):
            buffer += piece
            while len(buffer) >= block_chars:
                cut = _cut_point(buffer, block_chars)
                yield buffer[:cut]
                buffer = buffer[cut:]
    if buffer.strip():
        yield buffer


def _cut_point(buffer: str, limit: int) -> int:
    for sep in ("\n\n", "\n", " "):
        at = buffer.rfind(sep, limit // 4, limit)
        if at != -1:
            return at + len(sep)
    return limit
