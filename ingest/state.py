"""What the collection already holds, per source file, read from payloads only (no vectors).

Every chunk point carries its file's content hash, its chunker setting and the file's chunk count (`n_chunks`).
A file is complete when exactly the points `0 .. n_chunks-1` of its current hash and chunker are there and
nothing else: a run killed half-way through a file leaves it incomplete, so the next run finishes it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from search.store import CHUNK_INDEX, CHUNKER, CONTENT_HASH, N_CHUNKS, SOURCE, Collection, point_id

_FIELDS = [SOURCE, CONTENT_HASH, CHUNK_INDEX, N_CHUNKS, CHUNKER]


@dataclass
class StoredFile:
    """The points of one source: id -> (content hash, chunk index, n_chunks, chunker)."""

    source: str
    points: dict[str, tuple[str, int, int, str]] = field(default_factory=dict)

    def done(self, content_hash: str, chunker: str) -> set[int]:
        """Chunk indices already stored for this exact content and chunker (their ids are deterministic)."""
        return {
            index
            for pid, (h, index, _, c) in self.points.items()
            if h == content_hash and c == chunker and pid == point_id(self.source, index, h)
        }

    def complete(self, content_hash: str, chunker: str) -> bool:
        """True when the stored points are exactly this content's chunks, all of them."""
        counts = {n for h, _, n, c in self.points.values() if h == content_hash and c == chunker}
        if len(counts) != 1:
            return False
        n = counts.pop()
        return len(self.points) == n and self.done(content_hash, chunker) == set(range(n))


def load_state(store: Collection) -> dict[str, StoredFile]:
    """All sources of the collection with their points' bookkeeping payloads (no vectors are read)."""
    files: dict[str, StoredFile] = defaultdict(lambda: StoredFile(""))
    for pid, payload in store.payloads(_FIELDS):
        source = str(payload.get(SOURCE, ""))
        entry = files[source]
        entry.source = source
        entry.points[pid] = (
            str(payload.get(CONTENT_HASH, "")), int(payload.get(CHUNK_INDEX, -1)),
            int(payload.get(N_CHUNKS, -1)), str(payload.get(CHUNKER, "")),
        )
    return dict(files)
