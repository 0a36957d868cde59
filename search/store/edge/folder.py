"""The embedded store's folder: made, checked for its format, and held by one process at a time.

Layout of the folder (one process at a time holds it):
    echo-search-store.json       format marker (`search.store.edge.layout`)
    .lock                        held (flock) by the process that has the folder open
    collections/<name>/shard/    the engine's shard: segments, HNSW indexes, payload index, write-ahead log
    collections/<name>/collection.json   what the engine does not keep: fingerprint, embedder, dimension
                                         (written atomically, after the shard exists)
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path
from typing import IO, Any

from search.store.edge.layout import FORMAT, MARKER, old_format_message
from search.store.edge.space import DiskSpace, is_no_space
from search.store.errors import OldFormatError, StoreError, StoreLockedError


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` to `path` atomically: a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def lock_folder(folder: Path) -> IO[str]:
    """Hold `folder`'s lock for this process (released by the OS when the process ends, even by kill -9)."""
    handle = (folder / ".lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreLockedError(
            f"the embedded store at {folder} is in use by another process (the embedded store allows one at a "
            "time). Stop that process (an `ingest --watch`, `search serve` or the UI), or run a Qdrant server "
            "and point both at it with --qdrant-url / QDRANT_URL."
        ) from None
    return handle


def hold(folder: Path, min_free_mb: float) -> tuple[IO[str], DiskSpace]:
    """Make the store's `folder` if missing, refuse an old-format one, hold its lock and mark it as ours: the lock
    and the folder's free-space keeper (writes that would leave less than `min_free_mb` free are refused)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise StoreError(f"the embedded store's folder {folder} cannot be made: a file is in the way (choose "
                         "another --data-dir)") from None
    if message := old_format_message(folder):
        raise OldFormatError(message)
    handle = lock_folder(folder)
    space = DiskSpace(folder, min_free_mb)
    try:
        space.before_open()
        if not (folder / MARKER).exists():
            try:
                write_json(folder / MARKER, FORMAT)
            except OSError as exc:
                if is_no_space(exc):
                    raise space.full("cannot create the store") from None
                raise
    except BaseException:
        handle.close()
        raise
    return handle, space
