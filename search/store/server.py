"""A collection on a Qdrant server (`--qdrant-url` / `$QDRANT_URL`), through qdrant-client.

The server builds its own indexes. As Qdrant advises for a bulk load, a new collection is created with indexing
off (its `indexing_threshold` 0): the first ingest writes every point without the server rebuilding HNSW graphs
under it, and when that ingest finishes (`optimize`), indexing is switched on and the server builds the graphs once,
in the background. An ingest that is interrupted leaves indexing off (searches scan exactly) until a run finishes.
The write generation lives in the collection's metadata, so every process
(a service next to an `ingest --watch` on another machine) sees every other one's writes.
`ServerCollection.connect(":memory:", ...)` runs qdrant-client's in-process implementation of the same API: the
tests use it, since no Qdrant server binary can be installed on the machines they run on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from search.store import bm25
from search.store.collection import Collection, next_generation
from search.store.errors import StoreAddressError, StoreError, StoreUnavailableError
from search.store.filters import QueryFilter
from search.store.qdrant_filters import source_is
from search.store.schema import (
    BM25,
    BM25_META,
    ECHO,
    GENERATION,
    HYBRID,
    INDEXING_META,
    SOURCE,
    VECTOR_NAMES,
    Ask,
    ChunkPoint,
    ChunkRecord,
    StoredHit,
)

INDEXING_THRESHOLD_KB = 10_000
"""Qdrant's default: segments under this size are scanned, not indexed. Set when a bulk load ends (0 before)."""
_SPARSE = models.SparseVectorParams(modifier=models.Modifier.IDF)
"""The BM25 vector: the server applies the inverse document frequencies at query time."""


def _sparse(text: str, query: bool = False) -> models.SparseVector:
    vector = bm25.query_vector(text) if query else bm25.document_vector(text)
    return models.SparseVector(indices=list(vector.indices), values=list(vector.values))


class ServerCollection(Collection):
    """A collection on a Qdrant server (or qdrant-client's in-process server API, for ":memory:")."""

    def __init__(self, client: QdrantClient, name: str, location: str, shards: int | None = None,
                 replicas: int | None = None) -> None:
        self.client = client
        self.name = name
        self.location = location
        self.shards = shards
        self.replicas = replicas

    @classmethod
    def connect(cls, url: str, api_key: str | None, name: str, shards: int | None = None,
                replicas: int | None = None) -> ServerCollection:
        """Connect and check that the server answers (`StoreUnavailableError` says what to check if not).

        `shards` and `replicas` (None: the server's default) shape the collection if `ensure` creates it."""
        try:
            client = QdrantClient(location=":memory:") if url == ":memory:" else QdrantClient(url=url, api_key=api_key)
        except ValueError as exc:  # urllib3's verdict on a malformed URL (a LocationParseError)
            raise StoreAddressError(f"invalid --qdrant-url {url!r} (QDRANT_URL): {exc}") from None
        try:
            client.get_collections()
        except Exception as exc:  # qdrant-client raises several transport errors
            raise StoreUnavailableError(
                f"cannot reach the Qdrant server at {url}: {exc}. Is it running, and is QDRANT_API_KEY right?"
            ) from exc
        return cls(client, name, url, shards, replicas)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Run a client call; a transport failure becomes `StoreUnavailableError` with a readable message."""
        try:
            return fn(*args, **kwargs)
        except ResponseHandlingException as exc:
            raise StoreUnavailableError(
                f"cannot reach the Qdrant server at {self.location}: {exc}. Is it running?"
            ) from exc

    # -- lifecycle --------------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return bool(self._call(self.client.collection_exists, self.name))

    def metadata(self) -> dict[str, Any]:
        try:
            return dict(self._call(self.client.get_collection, self.name).config.metadata or {})
        except (UnexpectedResponse, ValueError):  # server: 404; in-process API: ValueError("... not found")
            if self.exists():
                raise
            return {}

    def ensure(self, fingerprint: str, embedder: dict[str, Any], dim: int) -> None:
        """Create the collection, or check the existing one's fingerprint.

        A new collection gets this object's `shards` and `replicas` (`ECHO_SEARCH_SHARDS`, `ECHO_SEARCH_REPLICAS`
        through `collection_options` and `open_collection`). Several workers may race to create it: the losers check
        the winner's fingerprint."""
        if self.exists():
            self.check_fingerprint(fingerprint)
            self.ensure_bm25()
            return
        try:
            self._call(
                self.client.create_collection, self.name,
                vectors_config={
                    name: models.VectorParams(size=dim, distance=models.Distance.DOT) for name in VECTOR_NAMES
                },
                sparse_vectors_config={BM25: _SPARSE},
                shard_number=self.shards,
                replication_factor=self.replicas,
                optimizers_config=models.OptimizersConfigDiff(indexing_threshold=0),  # a bulk load: see above
                metadata={"fingerprint": fingerprint, "embedder": embedder, GENERATION: next_generation(0),
                          BM25_META: bm25.DESCRIPTION, INDEXING_META: "deferred"},
            )
        except (UnexpectedResponse, ValueError):
            if not self.exists():
                raise
            self.check_fingerprint(fingerprint)
            self.ensure_bm25()
            return
        if "://" in self.location:  # the in-process API has no payload indexes (and warns)
            self.client.create_payload_index(self.name, SOURCE, models.PayloadSchemaType.KEYWORD)

    def drop(self) -> None:
        if self.exists():
            self._call(self.client.delete_collection, self.name)

    def close(self) -> None:
        self.client.close()

    # -- writes -----------------------------------------------------------------------------------------------
    def upsert(self, points: Sequence[ChunkPoint]) -> None:
        sparse = self.has_bm25()
        structs = [
            models.PointStruct(id=p.id, vector={
                **{n: np.asarray(v, dtype=np.float32).tolist() for n, v in p.vectors.items()},
                **({BM25: _sparse(p.record.text)} if sparse else {}),
            }, payload=p.record.as_dict())
            for p in points
        ]
        self._call(self.client.upsert, self.name, points=structs, wait=True)
        self._bump()

    def _add_sparse_vector(self) -> None:
        """Qdrant 1.18 and later add a named vector to an existing collection; an older server cannot."""
        params = self._call(self.client.get_collection, self.name).config.params
        if BM25 in (params.sparse_vectors or {}):
            return
        try:
            self._call(self.client.create_vector_name, self.name, BM25,
                       models.SparseVectorNameConfig(sparse=models.SparseVectorConfig(modifier=models.Modifier.IDF)),
                       wait=True)
        except UnexpectedResponse as exc:
            raise StoreError(
                f"collection {self.name!r} on {self.location} was made before BM25 vectors, and this Qdrant server "
                f"cannot add them to it ({exc.status_code}: {exc.reason_phrase}; adding a named vector needs Qdrant "
                "1.18 or later). Upgrade the server, or ingest into a new collection (--collection)."
            ) from exc

    def _write_bm25(self, texts: list[tuple[str, str]]) -> None:
        self._call(self.client.update_vectors, self.name, wait=True, points=[
            models.PointVectors(id=pid, vector={BM25: _sparse(text)}) for pid, text in texts
        ])

    def _set_metadata(self, key: str, value: Any) -> None:
        self._bump({key: value})

    def delete_source(self, source: str, keep: Sequence[str] = ()) -> None:
        selector = models.FilterSelector(filter=source_is(source, keep))
        self._call(self.client.delete, self.name, points_selector=selector, wait=True)
        self._bump()

    def _set_payload(self, payload: dict[str, Any], ids: Sequence[str]) -> None:
        self._call(self.client.set_payload, self.name, payload=payload, points=list(ids), wait=True)
        self._bump()

    def optimize(self) -> bool:
        """End a bulk load: switch the server's indexing on where the collection was created with it off (the
        server then builds the graphs in the background). True if it did; a collection already indexed is left
        to the server."""
        if self.metadata().get(INDEXING_META) != "deferred":
            return False
        self._bump({INDEXING_META: "on"},
                   optimizers_config=models.OptimizersConfigDiff(indexing_threshold=INDEXING_THRESHOLD_KB))
        return True

    def _bump(self, changes: dict[str, Any] | None = None, **config: Any) -> None:
        """A new write generation, with `changes` to the metadata and `config` (other `update_collection`
        arguments) in the same update. After the write, never before: a reader that sees the new generation must
        also see the write.

        Sends the whole metadata (fingerprint and embedder too), so that it is right whether the server merges
        metadata updates (the in-process API does) or replaces them."""
        meta = {**self.metadata(), **(changes or {})}
        meta[GENERATION] = next_generation(int(meta.get(GENERATION) or 0))
        self._call(self.client.update_collection, self.name, metadata=meta, **config)

    # -- reads ------------------------------------------------------------------------------------------------
    def generation(self) -> int:
        """One metadata read: a dictionary lookup in-process, one small GET from a server."""
        return int(self.metadata().get(GENERATION) or 0)

    def count(self) -> int:
        if not self.exists():
            return 0
        return int(self._call(self.client.count, self.name, exact=True).count)

    def sources(self) -> list[str]:
        if not self.exists():
            return []
        hits = self._call(self.client.facet, self.name, key=SOURCE, limit=1_000_000, exact=True).hits
        return sorted(str(h.value) for h in hits)

    def _payloads(self, fields: Sequence[str] | None = None, page: int = 2048,
                  where: QueryFilter | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        if not self.exists():
            return
        offset = None
        flt = where.to_client() if where else None
        while True:
            points, offset = self._call(
                self.client.scroll, self.name, limit=page, offset=offset, scroll_filter=flt,
                with_payload=models.PayloadSelectorInclude(include=list(fields)) if fields is not None else True,
                with_vectors=False,
            )
            for p in points:
                yield str(p.id), dict(p.payload or {})
            if offset is None:
                return

    def sample_vectors(self, names: Sequence[str], n: int) -> dict[str, np.ndarray]:
        records = self._call(self.client.scroll, self.name, limit=n, with_payload=False,
                             with_vectors=list(names))[0] if self.exists() and n > 0 else []
        return {name: np.asarray([r.vector[name] for r in records], dtype=np.float32).reshape(len(records), -1)
                for name in names}

    def _search(self, asks: list[Ask], k: int, where: QueryFilter | None) -> list[list[StoredHit]]:
        flt = where.to_client() if where else None
        requests = [self._request(ask, k, flt) for ask in asks]
        return [[StoredHit(str(p.id), float(p.score), ChunkRecord.from_dict(p.payload or {})) for p in answer.points]
                for answer in self._call(self.client.query_batch_points, self.name, requests=requests)]

    def _request(self, ask: Ask, k: int, flt: models.Filter | None) -> models.QueryRequest:
        """One ask as a query: a nearest-neighbour search, or two prefetches fused (`HYBRID`)."""
        if ask.ranking == BM25:
            return models.QueryRequest(query=_sparse(ask.text or "", query=True), using=BM25, limit=k, filter=flt,
                                       with_payload=True)
        assert ask.vector is not None
        if ask.ranking != HYBRID:
            return models.QueryRequest(query=ask.vector.tolist(), using=ask.ranking, limit=k, filter=flt,
                                       with_payload=True)
        fusion = self.fusion
        limit = k * fusion.prefetch
        prefetch = [
            models.Prefetch(query=ask.vector.tolist(), using=ECHO, limit=limit, filter=flt),
            models.Prefetch(query=_sparse(ask.text or "", query=True), using=BM25, limit=limit, filter=flt),
        ]
        method: models.FusionQuery | models.RrfQuery = (
            models.FusionQuery(fusion=models.Fusion.DBSF) if fusion.method == "dbsf"
            else models.RrfQuery(rrf=models.Rrf(k=fusion.rrf_k, weights=list(fusion.weights) if fusion.weights
                                                else None)))
        return models.QueryRequest(prefetch=prefetch, query=method, limit=k, filter=flt, with_payload=True)

    def index_info(self) -> tuple[str, int, int]:
        info = self._call(self.client.get_collection, self.name)
        state = "deferred" if (info.config.metadata or {}).get(INDEXING_META) == "deferred" else "server"
        return state, int(info.indexed_vectors_count or 0), int(info.segments_count or 0)
