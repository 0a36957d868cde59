"""Disk space for the embedded store: writes stop cleanly before the disk is full, reads still open on a full disk.

Qdrant's engine memory-maps its files, and many of them are sparse (created at their full size, blocks allocated on
first write). On a full disk, the first write into such a hole is not an error the engine can report: the kernel
sends SIGBUS and the process dies without a word, even a read-only `search info`, because opening a shard writes a
few pages and small files. Three measures, measured on a full tmpfs (tests/test_store_safety.py):

- `DiskSpace.check` before every write: a write that would leave less than `min_free` bytes free raises
  `StoreFullError` before the engine is called, so nothing is half-written;
- `allocate_holes` after writes: the small memory-mapped files that opening a shard writes into are allocated for
  real (`posix_fallocate`), so opening never faults; the large append-only files (write-ahead log, vector chunks,
  payload pages) are left sparse, opening does not write into them;
- a reserve file (`RESERVE_BYTES`) kept beside the collections: on a nearly full disk it is released before the
  shard is opened, which gives the engine room for the small files it saves while opening; it is taken again once
  there is room.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from search.store.errors import StoreFullError

RESERVE = ".space-reserve"
RESERVE_BYTES = 16 << 20
"""Released on a nearly full disk so that the engine can open a shard (it saves a few small files while opening)."""
_SPARSE_ON_PURPOSE = re.compile(
    r"(^|/)(wal/|vector_storage-[^/]*/vectors/chunk_|vector_storage-[^/]*/store/page_|payload_storage/page_)"
)
"""Large files the engine only appends to: left sparse (allocating them would take 32 MiB each). The BM25 sparse
vectors' pages (`vector_storage-bm25/store/page_*`) are stored like the payload's."""


def free_bytes(path: Path) -> int:
    """Free bytes on the file system of `path` (for an unprivileged user)."""
    return shutil.disk_usage(path).free


def is_no_space(exc: BaseException) -> bool:
    """True for an error that says the disk is full (the engine's text, or an OSError's errno)."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    return "No space left on device" in text or "os error 28" in text or "Disk quota exceeded" in text


class DiskSpace:
    """The free-space policy of one embedded store folder."""

    def __init__(self, folder: Path, min_free_mb: float) -> None:
        self.folder = folder
        self.min_free = int(min_free_mb * (1 << 20))

    def full(self, doing: str) -> StoreFullError:
        """The refusal: how much is free, what was being done, and that nothing was half-written."""
        free = free_bytes(self.folder)
        return StoreFullError(
            f"the disk holding the embedded store at {self.folder} is full ({free / 2**20:.0f} MiB free; {doing}). "
            "Nothing was half-written: every file stored is complete or visibly incomplete, and the next run "
            "finishes it. Free some space, then run the command again."
        )

    def check(self, need: int) -> None:
        """`StoreFullError` when writing about `need` bytes would leave less than the minimum free."""
        if free_bytes(self.folder) - need < self.min_free:
            raise self.full(f"this write needs about {need / 2**20:.0f} MiB and {self.min_free / 2**20:.0f} MiB "
                            "are kept free, ECHO_SEARCH_MIN_FREE_MB")

    def before_open(self) -> None:
        """Release the reserve when the disk is nearly full, so that the engine can open a shard."""
        reserve = self.folder / RESERVE
        if reserve.exists() and free_bytes(self.folder) < 2 * RESERVE_BYTES:
            reserve.unlink()

    def keep_reserve(self) -> None:
        """Take the reserve again when the disk has room for it and more (best effort)."""
        reserve = self.folder / RESERVE
        if reserve.exists() or free_bytes(self.folder) < 3 * RESERVE_BYTES:
            return
        try:
            fd = os.open(reserve, os.O_WRONLY | os.O_CREAT, 0o644)
            try:
                os.posix_fallocate(fd, 0, RESERVE_BYTES)
            finally:
                os.close(fd)
        except OSError:
            reserve.unlink(missing_ok=True)


def allocate_holes(shard_dir: Path) -> None:
    """Allocate the unwritten blocks of the shard's small memory-mapped files (see the module docstring); a
    full disk leaves them as they are (best effort: the write checks keep room)."""
    for root, _, files in os.walk(shard_dir):
        for name in files:
            path = os.path.join(root, name)
            if _SPARSE_ON_PURPOSE.search(os.path.relpath(path, shard_dir)):
                continue
            try:
                fd = os.open(path, os.O_RDWR)
            except OSError:
                continue
            try:
                st = os.fstat(fd)
                if st.st_size and st.st_blocks * 512 < st.st_size:  # has holes
                    os.posix_fallocate(fd, 0, st.st_size)
            except OSError:
                pass
            finally:
                os.close(fd)
