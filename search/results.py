"""What a search returns (`Hit`, `SearchResult`), shared by the embedded `Searcher` and the HTTP client.

Kept apart from `search.searcher` so that a thin client (`HttpSearcher`, the UI in HTTP mode) never imports the
embedder, and with it torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from search.store import CHUNK_INDEX, SOURCE, TEXT, StoredHit

Mode = Literal["echo", "classical", "both"]


@dataclass
class Hit:
    """One ranked chunk."""

    rank: int
    score: float
    text: str
    source: str
    chunk_index: int
    id: str
    payload: dict[str, Any] = field(default_factory=dict)
    z: float | None = None
    """The score in standard deviations above this query's mean score over a sample of the collection's chunks
    (`search.calibration`): near 0 for a typical chunk, 4 and more for a strong match; None where not calibrated."""

    @classmethod
    def from_stored(cls, rank: int, hit: StoredHit, z: float | None = None) -> Hit:
        return cls(rank=rank, score=hit.score, text=str(hit.payload.get(TEXT, "")),
                   source=str(hit.payload.get(SOURCE, "")), chunk_index=int(hit.payload.get(CHUNK_INDEX, 0)),
                   id=hit.id, payload=hit.payload, z=z)


@dataclass
class SearchResult:
    echo: list[Hit]
    classical: list[Hit]
    timings: dict[str, float]
    """Milliseconds: embed_ms, search_ms."""
