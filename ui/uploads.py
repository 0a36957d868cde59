"""Uploaded files: safe names, the size limit, and where they are saved before `ingest` reads them."""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePosixPath

from ingest.parse import SUFFIXES
from search.store import default_data_dir

DEFAULT_LIMIT_MB = 50
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(ValueError):
    """An upload that cannot be accepted; the message says why."""


def upload_limit_mb() -> int:
    """Largest accepted file in MB: `$ECHO_SEARCH_UPLOAD_MB`, else 50."""
    value = os.environ.get("ECHO_SEARCH_UPLOAD_MB")
    return int(value) if value and value.isdigit() and int(value) > 0 else DEFAULT_LIMIT_MB


def upload_dir() -> Path:
    """Uploads live under the data folder: `$ECHO_SEARCH_DATA/uploads`."""
    return default_data_dir() / "uploads"


def accepted_types() -> list[str]:
    """File suffixes `ingest` reads, without the dot (for the upload widget)."""
    return sorted(s.lstrip(".") for s in SUFFIXES)


def sanitise_filename(name: str, max_chars: int = 120) -> str:
    """A safe file name from a browser-supplied one: no folders, no hidden files, ASCII letters, digits, `._-`."""
    base = PurePosixPath(name.replace("\\", "/")).name
    ascii_name = unicodedata.normalize("NFKD", base).encode("ascii", "ignore").decode()
    stem, dot, suffix = _UNSAFE.sub("_", ascii_name).rpartition(".")
    if not dot:
        stem, suffix = suffix, ""
    stem = stem.strip("._-") or "upload"
    suffix = suffix.strip("._-").lower()
    stem = stem[: max_chars - len(suffix) - 1]
    return f"{stem}.{suffix}" if suffix else stem


def save_upload(name: str, data: bytes, folder: Path, limit_mb: int) -> Path:
    """Write one upload under `folder` with a sanitised name (replacing an earlier upload of the same name).

    Raises `UploadError` for an unsupported type, an empty file, or one over `limit_mb`.
    """
    safe = sanitise_filename(name)
    if Path(safe).suffix not in SUFFIXES:
        raise UploadError(f"{name}: unsupported file type; ingest reads {', '.join(accepted_types())}")
    if not data:
        raise UploadError(f"{name}: the file is empty")
    if len(data) > limit_mb * 1024 * 1024:
        raise UploadError(f"{name}: {len(data) / 2**20:.1f} MB is over the {limit_mb} MB upload limit")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / safe
    tmp = path.with_name(f".{safe}.part")  # hidden while written: a concurrent ingest walk skips it
    tmp.write_bytes(data)
    tmp.replace(path)
    return path
