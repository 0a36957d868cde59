"""How the embedded engine indexes and searches the dense vectors: the HNSW graph, the int8 copies, segment sizes
and the payload indexes, as one shard configuration (`shard_config`) and the search parameters of a query
(`dense_params`).

The settings were chosen with `bench/store.py` (numbers in docs/benchmarks.md "Store"); see the constants below.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import qdrant_edge as edge

from search.store.schema import BM25, SOURCE, VECTOR_NAMES

HNSW_M = 16
"""Graph degree, with `HNSW_EF_CONSTRUCT` and `HNSW_EF` chosen by `bench/store.py --hnsw` at 100k points:
m/ef_construct/ef 8/64/64 built in 14.6 s with recall@10 0.973; 16/100/128 in 26.1 s with 1.000 (also 1.000 at
1M); 32/200/128 took 68.4 s for no better recall and slower queries."""
HNSW_EF_CONSTRUCT = 100
HNSW_EF = 128
"""Search-time candidate list; raised to k when k is larger."""
OVERSAMPLING = 2.0
"""int8 candidates fetched per wanted hit, then rescored with the float vectors: recall@10 0.95 without, 1.0 with,
at the same latency (100k points)."""
INT8_MEMORY = edge.Memory.Cold
"""Where the int8 copies live: memory-mapped and read on demand (`Cold`), or read into RAM at open (`Pinned`).
At 1M points a serving process opens in 1.16 s and answers in 3.35 / 4.45 ms (p50 / p95, warm) with 276 MB of its
own memory (`bench/store.py --points 1000000 --drop-caches`); fixed in a segment when it is built."""
VACUUM_MIN_VECTORS = 1
"""Segments of any size are vacuumed (rewritten without their deleted points) by `optimize` once 20 % of their points
are deleted (the engine's `deleted_threshold`); the engine's default spares segments under 1,000 vectors. Deleted
and replaced points count in BM25's document frequencies until their segment is vacuumed, and a small segment is
cheap to rewrite (it has no HNSW graph), so the IDF of a small collection follows its deletes at the next `optimize`
(every `ingest` ends with one)."""
SPARSE_MEMORY = edge.Memory.Cold
"""Where the BM25 inverted index lives: memory-mapped like the rest (`Cold`; not measured against `Pinned`)."""
INDEXING_THRESHOLD_KB = 10_000
"""Segments smaller than this (about 2,000 points of two 640-d vectors) stay unindexed and are scanned exactly."""
SEGMENT_POINTS = 100_000
"""Largest segment, in points. The engine has no background optimizer in-process: `upsert` builds the index of the
points written since the last build once there are this many (about 27 s for 100k points of two 640-d vectors on
2 cores), so a bulk ingest is indexed as it goes in bounded pieces, never one giant build at the end (a single
1M-point segment build died, killed without a message, on a 24 GB machine)."""


@dataclass(frozen=True)
class IndexTuning:
    """How the dense vectors are indexed and searched: the HNSW graph's degree `m` and build-time candidate list
    `ef_construct` (fixed when a collection is created), the search-time list `ef`, and where the int8 copies live.
    The defaults are the product's (measured: see the constants above); `bench/store.py --hnsw` sweeps others."""

    m: int = HNSW_M
    ef_construct: int = HNSW_EF_CONSTRUCT
    ef: int = HNSW_EF
    int8_memory: edge.Memory = field(default_factory=lambda: INT8_MEMORY)  # the engine's enum is unhashable

    def describe(self) -> str:
        """"m,ef_construct,ef", as `bench/store.py --hnsw` takes it."""
        return f"{self.m},{self.ef_construct},{self.ef}"


DEFAULT_INDEX = IndexTuning()

PAYLOAD_INDEXES = {SOURCE: edge.PayloadSchemaType.Keyword}
"""The payload indexes every collection has: listing the sources (a facet) needs the one of `source`."""


def shard_config(dim: int, index: IndexTuning) -> edge.EdgeConfig:
    """Named vectors with dot product (rows are L2-normalised: scores are cosines), an HNSW graph per vector
    searched with int8 copies of the vectors and rescored with the float originals, the write-ahead log on.

    Vectors, their int8 copies and the payload are memory-mapped files read on demand (`Memory.Cold`): the OS
    page cache keeps what queries touch, and opening a collection reads none of it. Measured at 100k points
    (bench/store.py's data): reopen 0.14 s, against 2.2 s with the int8 copies read in at open (`Cached`) and
    3.0 s held in RAM (`Pinned`), with the same query times once warm (0.4-0.6 ms) and recall 1.0."""
    vector = edge.EdgeVectorParams(size=dim, distance=edge.Distance.Dot, memory=edge.Memory.Cold)
    segment_kb = SEGMENT_POINTS * dim * 4 * len(VECTOR_NAMES) // 1024
    return edge.EdgeConfig(
        vectors={name: vector for name in VECTOR_NAMES},
        sparse_vectors={BM25: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf, memory=SPARSE_MEMORY)},
        hnsw_config=edge.HnswIndexConfig(m=index.m, ef_construct=index.ef_construct,
                                         full_scan_threshold=INDEXING_THRESHOLD_KB),
        quantization_config=edge.ScalarQuantizationConfig(type=edge.ScalarType.Int8, quantile=0.99,
                                                          memory=index.int8_memory),
        optimizers=edge.EdgeOptimizersConfig(indexing_threshold=INDEXING_THRESHOLD_KB, max_segment_size=segment_kb,
                                             vacuum_min_vector_number=VACUUM_MIN_VECTORS),
        payload_memory=edge.Memory.Cold,
    )


def dense_params(k: int, ef: int) -> edge.SearchParams:
    """HNSW and int8 search of a dense vector for k hits: the candidate list `ef`, at least k, rescored with the
    floats."""
    return edge.SearchParams(hnsw_ef=max(ef, k), quantization=edge.QuantizationSearchParams(
        rescore=True, oversampling=OVERSAMPLING))
