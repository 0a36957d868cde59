"""Query-time search: embed a question, run nearest-neighbour search on the echo and classical vectors."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from qdrant_client import models
from qdrant_client.http.exceptions import ResponseHandlingException

from embedder import Embedder
from embedder.templates import DEFAULT_INSTRUCTION
from search.store import CHUNK_INDEX, CLASSICAL, ECHO, SOURCE, TEXT, CollectionInfo, Store, StoreUnavailableError
from search.validation import InvalidRequestError, check_k

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


@dataclass
class SearchResult:
    echo: list[Hit]
    classical: list[Hit]
    timings: dict[str, float]
    """Milliseconds: embed_ms, search_ms."""


def source_filter(sources: list[str] | str | None) -> models.Filter | None:
    """A Qdrant filter keeping chunks of the given source path(s)."""
    if not sources:
        return None
    values = [sources] if isinstance(sources, str) else list(sources)
    return models.Filter(must=[models.FieldCondition(key=SOURCE, match=models.MatchAny(any=values))])


@contextmanager
def store_errors(location: str) -> Iterator[None]:
    """Turn a Qdrant transport failure (server down, network) into a `StoreUnavailableError` with a readable message."""
    try:
        yield
    except ResponseHandlingException as exc:
        raise StoreUnavailableError(
            f"cannot reach the Qdrant server at {location}: {exc}. Is it running?"
        ) from exc


def store_sources(store: Store) -> list[str]:
    """The distinct source paths in the store's collection, sorted (empty when nothing is ingested)."""
    with store_errors(store.location):
        if not store.exists():
            return []
        hits = store.client.facet(store.collection, key=SOURCE, limit=1_000_000, exact=True).hits
    return sorted(str(h.value) for h in hits)


@dataclass
class Searcher:
    """Embeds questions with the instructed echo query template and searches one collection."""

    store: Store
    embedder: Embedder

    @classmethod
    def open(
        cls,
        url: str | None = None,
        api_key: str | None = None,
        path: str | None = None,
        collection: str | None = None,
        model: str | None = None,
        embedder: Embedder | None = None,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> Searcher:
        """The embedded store by default, or a Qdrant server at `url`; refuses a collection of another embedder.

        `path` is the embedded store's Qdrant folder; `data_dir` the data folder that holds it (`qdrant/`)."""
        store = Store.open(url=url, api_key=api_key, path=path, collection=collection, data_dir=data_dir)
        emb = embedder or Embedder.from_pretrained(model)
        if store.exists():
            store.check_fingerprint(emb.fingerprint)
        return cls(store=store, embedder=emb)

    def info(self) -> CollectionInfo:
        with store_errors(self.store.location):
            return self.store.info()

    def generation(self) -> int:
        """The collection's write generation (`Store.generation`): it changes whenever any process writes."""
        with store_errors(self.store.location):
            return self.store.generation()

    def sources(self) -> list[str]:
        """The distinct source paths in the collection, sorted (empty when nothing is ingested)."""
        return store_sources(self.store)

    def search(
        self,
        query: str,
        k: int = 10,
        mode: Mode = "both",
        filter: models.Filter | list[str] | str | None = None,
        instruction: str | None = None,
    ) -> SearchResult:
        """Rank chunks for `query`; `filter` is a Qdrant filter or source path(s)."""
        return self.search_many([query], k=k, mode=mode, filter=filter, instruction=instruction)[0]

    def search_many(
        self,
        queries: list[str],
        k: int = 10,
        mode: Mode = "both",
        filter: models.Filter | list[str] | str | None = None,
        instruction: str | None = None,
    ) -> list[SearchResult]:
        """Several queries in one model forward (what the HTTP service's micro-batching calls)."""
        if mode not in ("echo", "classical", "both"):
            raise InvalidRequestError(f"mode must be 'echo', 'classical' or 'both', got {mode!r}")
        check_k(k)
        with store_errors(self.store.location):
            return self._search_many(queries, k, mode, filter, instruction)

    def _search_many(
        self,
        queries: list[str],
        k: int,
        mode: Mode,
        filter: models.Filter | list[str] | str | None,
        instruction: str | None,
    ) -> list[SearchResult]:
        self.store.check_fingerprint(self.embedder.fingerprint)
        qfilter = filter if isinstance(filter, models.Filter) or filter is None else source_filter(filter)
        t0 = time.perf_counter()
        vectors = self.embedder.encode(
            queries, kind="query", instruction=instruction or DEFAULT_INSTRUCTION, with_classical=mode != "echo"
        )
        embed_ms = (time.perf_counter() - t0) * 1000 / len(queries)
        results = []
        for i in range(len(queries)):
            t1 = time.perf_counter()
            echo = self._query(ECHO, vectors.echo[i].tolist(), k, qfilter) if mode != "classical" else []
            classical: list[Hit] = []
            if mode != "echo" and vectors.classical is not None:
                classical = self._query(CLASSICAL, vectors.classical[i].tolist(), k, qfilter)
            search_ms = (time.perf_counter() - t1) * 1000
            results.append(SearchResult(echo, classical, {"embed_ms": embed_ms, "search_ms": search_ms}))
        return results

    def _query(self, using: str, vector: list[float], k: int, qfilter: models.Filter | None) -> list[Hit]:
        points = self.store.client.query_points(
            self.store.collection, query=vector, using=using, limit=k, query_filter=qfilter, with_payload=True
        ).points
        return [
            Hit(
                rank=rank,
                score=float(p.score),
                text=str((p.payload or {}).get(TEXT, "")),
                source=str((p.payload or {}).get(SOURCE, "")),
                chunk_index=int((p.payload or {}).get(CHUNK_INDEX, 0)),
                id=str(p.id),
                payload=dict(p.payload or {}),
            )
            for rank, p in enumerate(points, start=1)
        ]
