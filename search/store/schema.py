"""What a collection holds: the two named vectors, the payload fields of a chunk point, and point ids.

This is the one place the layout is defined; the backends (`search.store.edge`, `search.store.server`) store it,
everything else reads and writes it through `Collection`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ECHO = "echo"
CLASSICAL = "classical"
VECTOR_NAMES = (ECHO, CLASSICAL)
"""The dense named vectors, of the embedder's dimension."""
BM25 = "bm25"
"""The sparse named vector: BM25 term weights of the chunk text (`search.store.bm25`), computed by the store at
`upsert`; the engine applies the IDF (the vector's IDF modifier)."""
SPARSE_NAMES = (BM25,)

HYBRID = "hybrid"
"""The ranking that fuses echo and BM25 in one engine query (`search.store.fusion`)."""
RANKINGS = (ECHO, CLASSICAL, BM25, HYBRID)
"""What `Collection.query` can rank by: a dense vector, BM25, or echo and BM25 fused."""
TEXT_RANKINGS = (BM25, HYBRID)
"""The rankings that need the query text."""
BM25_META = "bm25"
"""Collection metadata: the BM25 configuration (`search.store.bm25.DESCRIPTION`) every point's sparse vector was
made with; absent on a collection made before BM25 or whose sparse vectors are not complete yet."""

# Payload fields of every chunk point.
SOURCE = "source"  # path of the file the chunk came from (as given to ingest, resolved)
CHUNK_INDEX = "chunk_index"  # position of the chunk in its file, from 0
TEXT = "text"  # the chunk text that was embedded
CONTENT_HASH = "content_hash"  # sha256 of the whole source file: unchanged files are skipped
TITLE = "title"  # section title the chunk sits under, when known
PAGE = "page"  # page number, when known
N_CHUNKS = "n_chunks"  # how many chunks the file's content has (ingest bookkeeping)
CHUNKER = "chunker"  # chunking settings, e.g. "v1/200": other settings mean the file is re-chunked

_ID_NAMESPACE = uuid.UUID("6f1c1d1e-5b0a-4c53-9d5e-2f8f6a3f0e11")


def point_id(source: str, chunk_index: int, content_hash: str) -> str:
    """Deterministic point id: the same chunk of the same file content always gets the same id."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{source}\0{chunk_index}\0{content_hash}"))


@dataclass
class ChunkPoint:
    """One point to write: its id, its vectors by name (`ECHO`, `CLASSICAL`) and its payload."""

    id: str
    vectors: Mapping[str, np.ndarray | list[float]]
    payload: dict[str, Any]


@dataclass(frozen=True)
class Ask:
    """One ranking to compute for one query: `ranking` is one of `RANKINGS`; `vector` the dense query vector
    (the named vector `ranking`, or echo's for `HYBRID`); `text` the query text (`BM25`, `HYBRID`)."""

    ranking: str
    vector: np.ndarray | None = None
    text: str | None = None


@dataclass
class StoredHit:
    """One nearest neighbour as the store returns it."""

    id: str
    score: float
    payload: dict[str, Any]


@dataclass
class CollectionInfo:
    """What `Collection.info()` reports."""

    name: str
    location: str
    points: int
    fingerprint: str | None
    embedder: dict[str, Any]
    index: str = "none"
    """"hnsw" when every vector is in an HNSW index, "exact" when none is (small collections, searched by full
    scan), "partial" in between (recent writes not indexed yet), "server" when a Qdrant server manages it."""
    indexed_vectors: int = 0
    segments: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

GENERATION = "generation"
"""Server collection metadata: changes on every write (see `Collection.generation`)."""
