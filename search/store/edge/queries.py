"""Searches of the embedded engine: each `Ask` (one ranking for one query) as an engine query, and its answer as
`StoredHit`s."""

from __future__ import annotations

import qdrant_edge as edge

from search.store import bm25
from search.store.edge.tuning import dense_params
from search.store.fusion import Fusion
from search.store.schema import BM25, ECHO, HYBRID, Ask, ChunkRecord, StoredHit


def query_request(ask: Ask, k: int, flt: edge.Filter | None, ef: int, fusion: Fusion) -> edge.QueryRequest:
    """One ask as an engine query for `k` hits: a nearest-neighbour search (HNSW with candidate list `ef`), or two
    prefetches fused as `fusion` says (`HYBRID`)."""
    if ask.ranking == BM25:
        return edge.QueryRequest(limit=k, query=edge.Query.Nearest(bm25.query_vector(ask.text or ""), using=BM25),
                                 filter=flt, with_payload=True)
    assert ask.vector is not None
    if ask.ranking != HYBRID:
        return edge.QueryRequest(limit=k, query=edge.Query.Nearest(ask.vector.tolist(), using=ask.ranking),
                                 filter=flt, with_payload=True, params=dense_params(k, ef))
    limit = k * fusion.prefetch
    prefetches = [
        edge.Prefetch(limit=limit, query=edge.Query.Nearest(ask.vector.tolist(), using=ECHO),
                      params=dense_params(limit, ef), filter=flt),
        edge.Prefetch(limit=limit, query=edge.Query.Nearest(bm25.query_vector(ask.text or ""), using=BM25),
                      filter=flt),
    ]
    method = edge.Fusion.Dbsf() if fusion.method == "dbsf" else edge.Fusion.Rrf(
        k=fusion.rrf_k, weights=list(fusion.weights) if fusion.weights else None)
    return edge.QueryRequest(limit=k, prefetches=prefetches, query=method,  # type: ignore[arg-type]  # the stubs
                             filter=flt, with_payload=True)  # type the fusions as `Fusion`, not its classes


def stored_hits(points: list[edge.ScoredPoint]) -> list[StoredHit]:
    """One query's answer, best first, as the store returns hits."""
    return [StoredHit(str(p.id), float(p.score), ChunkRecord.from_dict(p.payload or {})) for p in points]
