"""What the collection already holds, per source file, read from the records only (no vectors, no text).

Every chunk point's record carries its file's content hash, its chunker setting and the file's chunk count
(`n_chunks`). A file is complete when exactly the points `0 .. n_chunks-1` of its current hash and chunker are there
and nothing else: a run killed half-way through a file leaves it incomplete, so the next run finishes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from search.store import ChunkRecord, point_id

if TYPE_CHECKING:
    from search.store import Collection


@dataclass
class StoredFile:
    """The points of one source: id -> record (without its text)."""

    source: str
    points: dict[str, ChunkRecord] = field(default_factory=dict)

    def done(self, content_hash: str, chunker: str) -> set[int]:
        """Chunk indices already stored for this exact content and chunker (their ids are deterministic)."""
        return {
            r.chunk_index
            for pid, r in self.points.items()
            if r.content_hash == content_hash and r.chunker == chunker
            and pid == point_id(self.source, r.chunk_index, r.content_hash)
        }

    def complete(self, content_hash: str, chunker: str) -> bool:
        """True when the stored points are exactly this content's chunks, all of them."""
        counts = {r.n_chunks for r in self.points.values() if r.content_hash == content_hash and r.chunker == chunker}
        if len(counts) != 1:
            return False
        n = counts.pop()
        return len(self.points) == n and self.done(content_hash, chunker) == set(range(n))


def load_state(store: Collection) -> dict[str, StoredFile]:
    """All sources of the collection with their points' records (no vectors or text are read)."""
    files: dict[str, StoredFile] = {}
    for pid, record in store.records(with_text=False):
        files.setdefault(record.source, StoredFile(record.source)).points[pid] = record
    return files
