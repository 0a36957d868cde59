"""`Ledger`: the bookkeeping both runners share (`ingest.pipeline` with threads, `ingest.ray_runner` on Ray).

Whatever the runner, the messages of `ingest.stages.file_messages` have the same consequences: a started file adds
its size to the bytes still to embed (the ETA), a file's outcome is reported (and its size taken back when it will
not be embedded after all), embedded chunks are stored, and a finished file is completed once every chunk it handed
over is stored, never before (so a run killed at any moment leaves each file complete or visibly incomplete). The
runners differ only in how they reach the `StoreWriter`: through a writer thread, in order, or directly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from ingest.report import FileResult
from ingest.stages import FileFinished, FileStarted, StoreWriter
from search.store import ChunkPoint

Write = Callable[..., None]
"""How a runner applies a `StoreWriter` call: `write(writer.upsert, points)`, in the order given."""


def direct(fn: Callable[..., None], *args: Any) -> None:
    """A `Write` that calls at once (a runner with no writer thread)."""
    fn(*args)


class Ledger:
    """Applies the messages of a run through `write` to `writer` and keeps what they leave open: the sizes of the
    started files, the chunks stored this run, and the finished files waiting for their chunks. Not thread-safe:
    a runner calls it from one thread."""

    def __init__(self, writer: StoreWriter, write: Write = direct) -> None:
        self.writer, self.write = writer, write
        self.progress = writer.progress
        self.sizes: dict[str, int] = {}  # size of each started file, by source
        self.stored: Counter[str] = Counter()  # chunks handed to the store this run, by source
        self.finished: dict[str, tuple[FileFinished, int]] = {}  # finished files with the chunks they expect

    def take(self, message: FileStarted | FileFinished | FileResult) -> None:
        """Note a started or finished file; report a file's outcome."""
        if isinstance(message, FileStarted):
            self.sizes[message.file.source] = message.file.size
            self.progress.bytes_total += message.file.size
        elif isinstance(message, FileFinished):
            done = message.file.done
            expected = sum(1 for i in range(message.n_chunks) if i not in done)
            self.finished[message.file.source] = (message, expected)
        else:
            self.progress.bytes_total -= self.sizes.pop(message.source, 0)  # it will not be embedded: an honest ETA
            self.write(self.writer.record, message)

    def upsert(self, points: list[ChunkPoint]) -> None:
        """Store embedded chunks."""
        self.write(self.writer.upsert, points)
        self.stored.update(point.record.source for point in points)

    def complete_ready(self) -> None:
        """Complete the finished files all of whose chunks are stored (or on their way, in order, to the store)."""
        for source, (finished, expected) in list(self.finished.items()):
            if self.stored[source] >= expected:
                del self.finished[source]
                del self.stored[source]
                self.sizes.pop(source, None)
                self.write(self.writer.complete, finished)
