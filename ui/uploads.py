"""Uploaded files: safe names, the size limit, and where they are saved before `ingest` reads them."""

from __future__ import annotations

import os
import re
import unicodedata
import uuid
from pathlib import Path, PurePosixPath

from ingest.parse import SUFFIXES
from search.settings import StoreSettings

_RESERVED = re.compile(r'[<>:"/\\|?*]')  # separators and what Windows refuses in a name
_BIDI = {chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))}


class UploadError(ValueError):
    """An upload that cannot be accepted; the message says why."""


def upload_dir(store: StoreSettings) -> Path:
    """Uploads live under the data folder: `$ECHO_SEARCH_DATA/uploads`."""
    return store.data_dir() / "uploads"


def accepted_types() -> list[str]:
    """File suffixes `ingest` reads, without the dot (for the upload widget)."""
    return sorted(s.lstrip(".") for s in SUFFIXES)


def sanitise_filename(name: str, max_bytes: int = 120) -> str:
    """A safe file name from a browser-supplied one, Unicode kept (NFC): no folders, no control or bidi characters,
    no characters Windows refuses, not hidden, at most `max_bytes` bytes of UTF-8. A name with nothing left
    before its suffix (`.md`, `....md`, `..`) becomes `upload` + suffix."""
    base = unicodedata.normalize("NFC", PurePosixPath(name.replace("\\", "/")).name)
    kept = "".join(" " if ch.isspace() else ch for ch in base if ch.isspace() or not _invisible(ch))
    stem, dot, suffix = " ".join(_RESERVED.sub("_", kept).split()).rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    suffix = suffix.strip().lower()
    room = max(max_bytes - len(suffix.encode()) - 1, 1)
    stem = stem.strip(" .").encode()[:room].decode(errors="ignore").strip(" .") or "upload"
    return f"{stem}.{suffix}" if suffix else stem


def _invisible(ch: str) -> bool:
    """Control characters (NUL included), lone surrogates and bidi overrides (which can disguise a suffix)."""
    return unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI


def save_upload(name: str, data: bytes, folder: Path, limit_mb: int) -> Path:
    """Write one upload under `folder` with a sanitised name and return where it went.

    Never replaces a different upload: when the name is taken by other bytes, the file is stored as
    `name (2).md`, `name (3).md`, ...; the same bytes under the same name reuse the stored file. Raises
    `UploadError` for an unsupported type, an empty file, or one over `limit_mb`.
    """
    safe = sanitise_filename(name)
    if Path(safe).suffix not in SUFFIXES:
        raise UploadError(f"{name}: unsupported file type; ingest reads {', '.join(accepted_types())}")
    if not data:
        raise UploadError(f"{name}: the file is empty")
    if len(data) > limit_mb * 1024 * 1024:
        raise UploadError(f"{name}: {len(data) / 2**20:.1f} MB is over the {limit_mb} MB upload limit")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{uuid.uuid4().hex}.part"  # hidden while written: a concurrent ingest walk skips it
    tmp.write_bytes(data)
    try:
        number = 1
        while True:
            path = folder / _numbered(safe, number)
            try:
                os.link(tmp, path)  # atomic, and never replaces a file (unlike rename)
                return path
            except FileExistsError:
                if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
                    return path
            number += 1
    finally:
        tmp.unlink(missing_ok=True)


def _numbered(name: str, number: int) -> str:
    """`name` itself for 1, else `stem (number).suffix`."""
    if number == 1:
        return name
    path = PurePosixPath(name)
    return f"{path.stem} ({number}){path.suffix}"


def stored_as(name: str, path: Path) -> str:
    """How the UI names one saved upload: the stored file name, and the uploaded name when they differ."""
    return f"`{path.name}`" if path.name == name else f"`{path.name}` (uploaded as `{name}`)"
