"""`ingest --watch`: re-sync whenever something changes under the watched paths."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path


def watch_paths(paths: list[Path], sync: Callable[[], object], stop_event: threading.Event | None = None) -> None:
    """Call `sync()` after each batch of file changes (debounced by watchfiles) until interrupted."""
    from watchfiles import watch

    for _changes in watch(*paths, stop_event=stop_event, debounce=1000):
        sync()
