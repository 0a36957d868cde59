"""Files to a stream of text elements (title, body text, list item, table row) with page numbers where known.

Everything goes through `unstructured` (offline once `ingest.setup_offline()` has run), except where a format is
better served by the standard library: CSV/TSV rows and JSON values become one element per row/value. Plain text
files are streamed in blocks, so a file of any size is parsed in bounded memory. A file that cannot be parsed raises
`ParseError` with a reason meant for the user.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.text_io import NotTextError, detect_encoding, iter_blocks, read_text

TEXT_SUFFIXES = {".txt", ".text", ".log"}
SUFFIXES = TEXT_SUFFIXES | {
    ".md", ".markdown", ".rst", ".html", ".htm", ".pdf", ".docx", ".pptx", ".csv", ".tsv", ".json", ".eml",
}
"""File types `ingest` reads; other files in a folder are ignored."""

_SKIP_CATEGORIES = {"PageBreak", "Image"}


class ParseError(ValueError):
    """A file that cannot be parsed; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Element:
    """One piece of a document in reading order."""

    text: str
    heading: bool = False
    """A title/heading: it opens a section."""
    depth: int = 0
    """Heading level, 0 for the top."""
    page: int | None = None


def parse_file(path: Path) -> Iterator[Element]:
    """Elements of `path` in reading order; raises `ParseError` (with the reason) when it cannot be read."""
    suffix = path.suffix.lower()
    parser = _PARSERS.get(suffix)
    if parser is None:
        raise ParseError(f"unsupported file type {suffix or '(no extension)'!r}")
    try:
        for element in parser(path):
            _check_unicode(element.text)
            yield element
    except (ParseError, FileNotFoundError, PermissionError):
        raise
    except NotTextError as exc:
        raise ParseError(str(exc)) from exc
    except Exception as exc:  # parsers raise anything on broken files: report it, never crash the run
        raise ParseError(f"cannot parse {suffix[1:].upper()} file: {type(exc).__name__}: {exc}".strip()) from exc


def _check_unicode(text: str) -> None:
    """`ParseError` for text that is not valid Unicode: a lone surrogate (JSON's `"\\ud800"`) can be neither
    tokenized nor stored."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = text[exc.start:exc.end].encode("unicode_escape").decode("ascii")
        raise ParseError(f"the text holds invalid Unicode (a lone surrogate, {bad}, at character {exc.start})") \
            from None


def _from_unstructured(elements: Iterable[Any]) -> Iterator[Element]:
    for el in elements:
        text = (el.text or "").strip()
        if not text or el.category in _SKIP_CATEGORIES:
            continue
        depth = el.metadata.category_depth or 0
        yield Element(text=text, heading=_is_heading(el.category, text), depth=depth, page=el.metadata.page_number)


def _is_heading(category: str, text: str) -> bool:
    """unstructured's `Title`, except full sentences: offline it has no POS tagger to see their verbs."""
    if category != "Title":
        return False
    return not (text.endswith((".", "!", "?")) and len(text.split()) > 3)


def _plain_text(path: Path) -> Iterator[Element]:
    from unstructured.partition.text import partition_text

    for block in iter_blocks(path):
        yield from _from_unstructured(partition_text(text=block, languages=["eng"]))


def _markdown(path: Path) -> Iterator[Element]:
    from unstructured.partition.md import partition_md

    yield from _from_unstructured(partition_md(text=read_text(path), languages=["eng"]))


def _rst(path: Path) -> Iterator[Element]:
    from docutils.core import publish_string
    from unstructured.partition.html import partition_html

    settings = {"report_level": 5, "halt_level": 5, "file_insertion_enabled": False, "raw_enabled": False}
    html = publish_string(read_text(path), writer="html", settings_overrides=settings).decode("utf-8")
    yield from _from_unstructured(partition_html(text=html, languages=["eng"]))


def _html(path: Path) -> Iterator[Element]:
    from unstructured.partition.html import partition_html

    yield from _from_unstructured(partition_html(text=read_text(path), languages=["eng"]))


def _pdf(path: Path) -> Iterator[Element]:
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfparser import PDFParser
    from unstructured.partition.pdf import partition_pdf

    with path.open("rb") as f:
        try:
            PDFDocument(PDFParser(f))  # unstructured returns [] for a broken PDF: check it first
        except Exception as exc:
            raise ParseError(f"corrupt or unreadable PDF ({type(exc).__name__}: {exc})") from exc
    elements = list(_from_unstructured(partition_pdf(filename=str(path), strategy="fast", languages=["eng"])))
    if not elements:
        raise ParseError("PDF has no extractable text (scanned pages without a text layer? OCR is not supported)")
    yield from elements


def _office(kind: str) -> Callable[[Path], Iterator[Element]]:
    def parse(path: Path) -> Iterator[Element]:
        partition: Callable[..., list[Any]]
        if kind == "docx":
            from unstructured.partition.docx import partition_docx as partition
        elif kind == "pptx":
            from unstructured.partition.pptx import partition_pptx as partition
        else:
            from unstructured.partition.email import partition_email as partition
        yield from _from_unstructured(partition(filename=str(path), languages=["eng"]))

    return parse


def _table(path: Path) -> Iterator[Element]:
    """One element per row, `column: value; ...`, so every chunk keeps the column names."""
    delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
    with path.open(encoding=detect_encoding(path), errors="replace", newline="") as f:
        rows = csv.reader(f, delimiter=delimiter)
        header = next(rows, None)
        if header is None:
            return
        header = [h.strip() for h in header]
        for row in rows:
            cells = [f"{name}: {value.strip()}" for name, value in zip(header, row, strict=False)
                     if value.strip()]
            cells += [value.strip() for value in row[len(header):] if value.strip()]
            if cells:
                yield Element(text="; ".join(cells))


def _json(path: Path) -> Iterator[Element]:
    """One element per scalar value, `path.to.key: value`."""
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise ParseError(f"invalid JSON: {exc}") from exc
    for key, value in _flatten(data, ""):
        text = f"{key}: {value}" if key else str(value)
        if str(value).strip():
            yield Element(text=text)


def _flatten(data: Any, prefix: str) -> Iterator[tuple[str, Any]]:
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _flatten(value, f"{prefix}[{i}]")
    elif data is not None:
        yield prefix, data


_PARSERS: dict[str, Callable[[Path], Iterator[Element]]] = {
    **{suffix: _plain_text for suffix in TEXT_SUFFIXES},
    ".md": _markdown,
    ".markdown": _markdown,
    ".rst": _rst,
    ".html": _html,
    ".htm": _html,
    ".pdf": _pdf,
    ".docx": _office("docx"),
    ".pptx": _office("pptx"),
    ".eml": _office("email"),
    ".csv": _table,
    ".tsv": _table,
    ".json": _json,
}
