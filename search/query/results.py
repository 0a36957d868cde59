"""What a search returns (`Hit`, `SearchResult`), shared by the embedded `Searcher` and the HTTP client.

Kept apart from `search.query.searcher` so that a thin client (`HttpSearcher`, the UI in HTTP mode) never imports the
embedder, and with it torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from search.store import BM25, CLASSICAL, ECHO, HYBRID, RERANK, SEARCH_RANKINGS, ChunkRecord, StoredHit

Mode = Literal["echo", "classical", "both", "bm25", "hybrid", "rerank", "all"]
"""What to rank with: one ranking (`echo`, `classical`, `bm25`, `hybrid`: echo and BM25 fused in the engine,
`rerank`: a first stage's top N rescored by the model, `search.query.rerank`), `both` (echo and classical, side by
side) or `all` four of the store's (not `rerank`, which costs a model forward over N passages)."""
MODES: tuple[str, ...] = get_args(Mode)
RANKINGS_OF: dict[str, tuple[str, ...]] = {
    "echo": (ECHO,), "classical": (CLASSICAL,), "both": (ECHO, CLASSICAL), "bm25": (BM25,), "hybrid": (HYBRID,),
    "rerank": (RERANK,), "all": (ECHO, CLASSICAL, BM25, HYBRID),
}
"""The rankings each mode returns (the lists of `SearchResult` it fills)."""


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
    (`search.query.calibration`): near 0 for a typical chunk, 4 and more for a strong match; None where not
    calibrated."""

    @classmethod
    def from_stored(cls, rank: int, hit: StoredHit, z: float | None = None) -> Hit:
        """The hit at `rank` for the store's `hit`; `payload` is its record as a dict."""
        record = hit.record
        return cls(rank=rank, score=hit.score, text=record.text, source=record.source, chunk_index=record.chunk_index,
                   id=hit.id, payload=record.as_dict(), z=z)

    @property
    def record(self) -> ChunkRecord:
        """The chunk's record (`payload`, typed): its title and page beside text and source."""
        return ChunkRecord.from_dict(self.payload)


@dataclass
class SearchResult:
    """One ranked list per ranking the mode asked for; the others are empty (mode `rerank` also fills its first
    stage's list, computed on the way)."""

    echo: list[Hit]
    classical: list[Hit]
    timings: dict[str, float]
    """Milliseconds: embed_ms, search_ms, and rerank_ms for mode `rerank` (the model's forward over the passages)."""
    bm25: list[Hit] = field(default_factory=list)
    hybrid: list[Hit] = field(default_factory=list)
    rerank: list[Hit] = field(default_factory=list)

    def ranking(self, name: str) -> list[Hit]:
        """The hits of ranking `name` (one of `SEARCH_RANKINGS`: "echo", "classical", "bm25", "hybrid", "rerank")."""
        if name not in SEARCH_RANKINGS:
            raise ValueError(f"unknown ranking {name!r}")
        hits: list[Hit] = getattr(self, name)
        return hits
