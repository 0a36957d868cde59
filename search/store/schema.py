"""What a collection holds: the named vectors, the record of a chunk point (`ChunkRecord`, its payload), point ids,
and the collection's own report (`CollectionInfo`).

This is the one place the layout is defined; the store implementations (`search.store.edge.collection`,
`search.store.server`) store it, everything else reads and writes typed records through `Collection`. Imports no
Qdrant package, so that what only needs these types (`search.query.results`, the HTTP client) stays light.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
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
RERANK = "rerank"
"""The ranking that rescores the top N hits of a first-stage ranking (one of `RANKINGS`) with the model, by how
likely it finds the question after each passage (`search.query.rerank`): computed by the query side, not the store."""
SEARCH_RANKINGS = (*RANKINGS, RERANK)
"""Every ranking a search can return: the store's and the reranked one."""
"""The rankings that need the query text."""
BM25_META = "bm25"
"""Collection metadata: the BM25 configuration (`search.store.bm25.DESCRIPTION`) every point's sparse vector was
made with; absent on a collection made before BM25 or whose sparse vectors are not complete yet."""

# The payload keys: `ChunkRecord`'s field names, for what names a field (filters, payload indexes, reads of one field).
SOURCE = "source"
CHUNK_INDEX = "chunk_index"
TEXT = "text"
CONTENT_HASH = "content_hash"
TITLE = "title"
PAGE = "page"
N_CHUNKS = "n_chunks"
CHUNKER = "chunker"

_ID_NAMESPACE = uuid.UUID("6f1c1d1e-5b0a-4c53-9d5e-2f8f6a3f0e11")


def point_id(source: str, chunk_index: int, content_hash: str) -> str:
    """Deterministic point id: the same chunk of the same file content always gets the same id."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{source}\0{chunk_index}\0{content_hash}"))


@dataclass(frozen=True, slots=True)
class ChunkRecord:
    """What a chunk point carries besides its vectors: the chunk, where it came from, and ingest's bookkeeping.

    Stored as the point's payload, one key per field (`as_dict`); a search hit's `payload` is the same dict."""

    source: str
    """Path of the file the chunk came from (as given to ingest, resolved)."""
    chunk_index: int
    """Position of the chunk in its file, from 0."""
    text: str
    """The chunk text that was embedded."""
    content_hash: str = ""
    """sha256 of the whole source file: unchanged files are skipped."""
    title: str | None = None
    """Section title the chunk sits under, when known."""
    page: int | None = None
    """Page number, when known."""
    n_chunks: int = -1
    """How many chunks the file's content has; -1 while a streamed file's count is not known yet."""
    chunker: str = ""
    """Chunking settings, e.g. "v1/200": other settings mean the file is re-chunked."""

    def as_dict(self) -> dict[str, Any]:
        """The record as a payload: one key per field."""
        return asdict(self)

    def metadata(self) -> dict[str, Any]:
        """`as_dict` without the text: what is known about the chunk (a LangChain `Document`'s metadata)."""
        return {key: value for key, value in self.as_dict().items() if key != TEXT}

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> ChunkRecord:
        """The record of a payload (or of a hit's `payload`): a missing field gets its default, other keys are
        ignored."""
        return cls(
            source=str(payload.get(SOURCE, "")), chunk_index=int(payload.get(CHUNK_INDEX, 0)),
            text=str(payload.get(TEXT, "")), content_hash=str(payload.get(CONTENT_HASH, "")),
            title=payload.get(TITLE), page=payload.get(PAGE),
            n_chunks=int(payload.get(N_CHUNKS, -1)), chunker=str(payload.get(CHUNKER, "")),
        )


@dataclass(frozen=True)
class ChunkPoint:
    """One point to write: its id, its vectors by name (`ECHO`, `CLASSICAL`) and its record."""

    id: str
    vectors: Mapping[str, np.ndarray | list[float]]
    record: ChunkRecord


@dataclass(frozen=True)
class Ask:
    """One ranking to compute for one query: `ranking` is one of `RANKINGS`; `vector` the dense query vector
    (the named vector `ranking`, or echo's for `HYBRID`); `text` the query text (`BM25`, `HYBRID`)."""

    ranking: str
    vector: np.ndarray | None = None
    text: str | None = None


@dataclass(frozen=True)
class StoredHit:
    """One nearest neighbour as the store returns it."""

    id: str
    score: float
    record: ChunkRecord


@dataclass(frozen=True)
class CollectionInfo:
    """What a collection holds: its size, its source files, the embedder that made it, its index and its write
    generation. The one shape every layer reports (`Collection.info()`, the query side's `info()`, `search info`,
    the service's `GET /collection`, the MCP `list_sources` tool, the UI's sidebar); `as_dict` is its JSON."""

    name: str
    location: str
    points: int = 0
    """Chunk points (0 when the collection does not exist)."""
    sources: list[str] = field(default_factory=list)
    """The distinct source paths, sorted."""
    fingerprint: str | None = None
    """The embedder's fingerprint (None when the collection does not exist)."""
    embedder: dict[str, Any] = field(default_factory=dict)
    """What made the vectors: model, layer, templates, pooling, dimension."""
    index: str = "none"
    """"hnsw" when every vector is in an HNSW index, "exact" when none is (small collections, searched by full
    scan), "partial" in between (recent writes not indexed yet), "server" when a Qdrant server manages it, "deferred"
    on a server collection whose first load has not finished (the server indexes it when one does), "none" when the
    collection does not exist."""
    indexed_vectors: int = 0
    segments: int = 0
    generation: int = 0
    """The write generation when this was read (`Collection.generation`): equal values, equal contents."""

    @property
    def files(self) -> int:
        """How many source files the chunks came from."""
        return len(self.sources)

    def as_dict(self) -> dict[str, Any]:
        """The JSON form (`search info --json`, `GET /collection`): the fields, with `files` after `points`."""
        data = asdict(self)
        return {"name": self.name, "location": self.location, "points": self.points, "files": self.files, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CollectionInfo:
        """The info of its JSON form (`as_dict`); other keys are ignored."""
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})

GENERATION = "generation"
"""Server collection metadata: changes on every write (see `Collection.generation`)."""
INDEXING_META = "indexing"
"""Server collection metadata: "deferred" from the creation of a collection until the first ingest into it
finishes (its bulk load, written with the server's indexing off), then "on"."""
