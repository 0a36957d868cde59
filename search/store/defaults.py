"""The store's defaults, written once: the settings (`search.settings.StoreSettings`) declare them as theirs, and
`open_collection` uses them for an argument left out."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_COLLECTION = "docs"
DEFAULT_MIN_FREE_MB = 256.0
"""Free disk space, in MiB, that writes to the embedded store leave by default."""


def default_data_dir() -> Path:
    """The data folder when none is set: `$XDG_DATA_HOME/echo-search`, else ~/.local/share/echo-search (the XDG base
    directory convention, the one environment lookup the store's defaults make)."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "echo-search"


def embedded_folder(path: str | os.PathLike[str] | None, data_dir: str | os.PathLike[str] | None) -> Path:
    """The embedded store's folder: `path`, else `qdrant/` under `data_dir` (default `default_data_dir()`)."""
    return Path(path).expanduser() if path else Path(data_dir or default_data_dir()).expanduser() / "qdrant"
