"""Query-time search: embed a question, run nearest-neighbour search on the echo and classical vectors."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from embedder import Embedder
from embedder.settings import EmbedderSettings
from embedder.templates import DEFAULT_INSTRUCTION
from search.results import Hit, Mode, SearchResult
from search.store import CLASSICAL, ECHO, Collection, CollectionInfo, FilterLike, QueryFilter
from search.validation import InvalidRequestError, check_instruction, check_k, check_text

__all__ = ["Hit", "Mode", "SearchResult", "Searcher"]


@dataclass
class Searcher:
    """Embeds questions with the instructed echo query template and searches one collection."""

    store: Collection
    embedder: Embedder
    _checked: bool = field(default=False, repr=False)
    """The collection's fingerprint was found equal to the embedder's: it is not read again on every query."""

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
        embedder_settings: EmbedderSettings | None = None,
    ) -> Searcher:
        """The embedded store by default, or a Qdrant server at `url`; refuses a collection of another embedder.

        `path` is the embedded store's Qdrant folder; `data_dir` the data folder that holds it (`qdrant/`). Without
        `embedder`, the model `model` is loaded as `embedder_settings` say (default: `EmbedderSettings()`)."""
        store = Collection.open(url=url, api_key=api_key, path=path, collection=collection, data_dir=data_dir)
        return cls.with_store(store, model=model, embedder=embedder, embedder_settings=embedder_settings)

    @classmethod
    def with_store(
        cls,
        store: Collection,
        model: str | None = None,
        embedder: Embedder | None = None,
        embedder_settings: EmbedderSettings | None = None,
    ) -> Searcher:
        """A searcher on the opened `store` (closed again if this fails) with `embedder`, else the model `model`
        loaded as `embedder_settings` say; refuses a collection of another embedder."""
        try:
            options = (embedder_settings or EmbedderSettings()).override(model=model).load_options()
            emb = embedder or Embedder.from_pretrained(**options)
            if store.exists():
                store.check_fingerprint(emb.fingerprint)
        except BaseException:
            store.close()  # never keep the embedded store's lock for a searcher that was not made
            raise
        return cls(store=store, embedder=emb)

    @property
    def in_process(self) -> bool:
        """Always: the store and the model are in this process (`SearchBackend.in_process`)."""
        return True

    def info(self) -> CollectionInfo:
        return self.store.info()

    def generation(self) -> int:
        """The collection's write generation (`Collection.generation`): it changes whenever any process writes."""
        return self.store.generation()

    def sources(self) -> list[str]:
        """The distinct source paths in the collection, sorted (empty when nothing is ingested)."""
        return self.store.sources()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def search(
        self,
        query: str,
        k: int = 10,
        mode: Mode = "both",
        filter: FilterLike = None,
        instruction: str | None = None,
    ) -> SearchResult:
        """Rank chunks for `query`; `filter` is a Qdrant filter or source path(s)."""
        return self.search_many([query], k=k, mode=mode, filter=filter, instruction=instruction)[0]

    def search_many(
        self,
        queries: list[str],
        k: int = 10,
        mode: Mode = "both",
        filter: FilterLike = None,
        instruction: str | None = None,
    ) -> list[SearchResult]:
        """Several queries in one model forward (what the HTTP service's micro-batching calls)."""
        if mode not in ("echo", "classical", "both"):
            raise InvalidRequestError(f"mode must be 'echo', 'classical' or 'both', got {mode!r}")
        check_k(k)
        for query in queries:
            check_text(query)
        if instruction is not None:
            check_instruction(instruction)
        return self._search_many(queries, k, mode, filter, instruction)

    def _search_many(
        self,
        queries: list[str],
        k: int,
        mode: Mode,
        filter: FilterLike,
        instruction: str | None,
    ) -> list[SearchResult]:
        if not self._checked:
            self.store.check_fingerprint(self.embedder.fingerprint)
            self._checked = True
        where = QueryFilter.parse(filter)
        t0 = time.perf_counter()
        vectors = self.embedder.encode(
            queries, kind="query", instruction=instruction or DEFAULT_INSTRUCTION, with_classical=mode != "echo"
        )
        embed_ms = (time.perf_counter() - t0) * 1000 / len(queries)
        wanted: dict[str, np.ndarray] = {}
        if mode != "classical":
            wanted[ECHO] = vectors.echo
        if mode != "echo" and vectors.classical is not None:
            wanted[CLASSICAL] = vectors.classical
        t1 = time.perf_counter()
        found = self.store.query(wanted, k, where)
        search_ms = (time.perf_counter() - t1) * 1000 / len(queries)

        def hits(name: str, i: int) -> list[Hit]:
            return [Hit.from_stored(rank, h) for rank, h in enumerate(found[name][i], start=1)] if name in found else []

        return [
            SearchResult(hits(ECHO, i), hits(CLASSICAL, i), {"embed_ms": embed_ms, "search_ms": search_ms})
            for i in range(len(queries))
        ]
