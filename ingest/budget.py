"""Keeping one huge file from holding up the rest: a per-file budget, and the order files are handled in.

At CPU speed a 30 MB text file (about 37,000 chunks) takes a day to embed. A file over the budget is reported
as failed ("too large") before any of it is embedded, and the other files go in.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_FILE_MB = 100.0
DEFAULT_MAX_FILE_CHUNKS = 10_000


@dataclass(frozen=True)
class FileBudget:
    """Largest file `ingest` embeds: `max_mb` megabytes (2**20 bytes) on disk and `max_chunks` chunks; 0 = no limit.

    The size is checked before the file is read; the chunk count while it is chunked, before any of its chunks
    is embedded (so a file is held in memory up to `max_chunks` chunks before its embedding starts).
    """

    max_mb: float = DEFAULT_MAX_FILE_MB
    max_chunks: int = DEFAULT_MAX_FILE_CHUNKS

    def __post_init__(self) -> None:
        if self.max_mb < 0 or self.max_chunks < 0:
            raise ValueError("the per-file budget must be >= 0 (0 for no limit)")

    def size_problem(self, size: int) -> str | None:
        """The "too large" reason when a file of `size` bytes is over the budget, else None."""
        if self.max_mb and size > self.max_mb * 2**20:
            return f"too large: {size / 2**20:.1f} MB is over the per-file limit of {self.max_mb:g} MB (--max-file-mb)"
        return None

    def chunks_problem(self, n_chunks: int) -> str | None:
        """The "too large" reason once a file has produced `n_chunks` chunks over the budget, else None."""
        if self.max_chunks and n_chunks > self.max_chunks:
            return f"too large: more than {self.max_chunks:,} chunks, the per-file limit (--max-file-chunks)"
        return None


def smallest_first(files: Mapping[str, Path]) -> list[tuple[str, Path]]:
    """The files in the order to handle them: by size on disk, smallest first (ties by name).

    Why not the walk order or a fair interleave: a run is as long as the total work whatever the order, but
    what a user waits for is the many small files, which become searchable in the first minutes instead of
    after a big file that sorts before them. Interleaving chunks of several files would need several files
    open and half-stored at once, so an interrupted run would leave more files incomplete; smallest-first
    finishes files one after another and never starves small files. A file whose size cannot be read sorts first
    and is reported when it is handled.
    """

    def size(item: tuple[str, Path]) -> tuple[int, str]:
        try:
            return os.stat(item[1]).st_size, item[0]
        except OSError:
            return -1, item[0]

    return sorted(files.items(), key=size)
