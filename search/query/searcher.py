"""Query-time search: embed a question, rank the collection's chunks by echo, classical, BM25 or hybrid."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from embedder import Embedder
from embedder.settings import EmbedderSettings
from embedder.templates import DEFAULT_INSTRUCTION
from search.query.calibration import SAMPLE_SIZE, Background
from search.query.request import SearchQuery
from search.query.rerank import rerank_hits
from search.query.results import RANKINGS_OF, Hit, Mode, SearchResult
from search.settings import RerankSettings, Settings
from search.store import (
    BM25,
    CLASSICAL,
    ECHO,
    HYBRID,
    RERANK,
    SEARCH_RANKINGS,
    ChunkRecord,
    Collection,
    CollectionInfo,
    FilterLike,
)
from search.validation import InvalidRequestError

if TYPE_CHECKING:
    from search.query.backend import SearchBackend

__all__ = ["Hit", "Mode", "SearchResult", "Searcher"]


@dataclass
class Searcher:
    """Embeds questions with the instructed echo query template and searches one collection.

    Without a model (`embedder=None`, `Searcher.open(load_model=False)`) it answers mode "bm25" only, which needs
    no query vector."""

    store: Collection
    embedder: Embedder | None
    _checked: bool = field(default=False, repr=False)
    """The collection's fingerprint was found equal to the embedder's: it is not read again on every query."""
    _background: Background | None = field(default=None, repr=False)
    """The calibration sample (`search.query.calibration`), taken again after any write."""
    rerank: RerankSettings = field(default_factory=RerankSettings.defaults)
    """How mode "rerank" ranks: its first stage, how many of its hits the model rescores, passage tokens."""

    @classmethod
    def open(
        cls,
        collection: str | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        path: str | os.PathLike[str] | None = None,
        qdrant_url: str | None = None,
        qdrant_api_key: str | None = None,
        model: str | None = None,
        embedder: Embedder | None = None,
        settings: Settings | None = None,
        load_model: bool = True,
    ) -> SearchBackend:
        """What the `search` command would open: `settings` (default: `Settings.load()`, the environment included)
        with the arguments given in place (`path`: the embedded store's folder itself, else `qdrant/` under
        `data_dir`). When another process holds the embedded store (`search serve`, the UI, `ingest --watch`), its
        service answers (an `HttpSearcher`, with the same results and errors); else the store is opened here and
        `embedder`, or the settings' model, is loaded (none when `load_model` is False: mode "bm25" only). Refuses a
        collection of another embedder. `Searcher.open().search("a question", k=10, mode="hybrid")`."""
        from search.query.backend import open_backend

        chosen = (settings or Settings.load()).override(
            store={"collection": collection, "data": data_dir, "qdrant_url": qdrant_url,
                   "qdrant_api_key": qdrant_api_key},
            embedder={"model": model})
        return open_backend(chosen, embedder, load_model=load_model, path=path)

    @classmethod
    def with_store(
        cls,
        store: Collection,
        model: str | None = None,
        embedder: Embedder | None = None,
        embedder_settings: EmbedderSettings | None = None,
        load_model: bool = True,
        rerank: RerankSettings | None = None,
    ) -> Searcher:
        """A searcher on the opened `store` (closed again if this fails) with `embedder`, else the model `model`
        loaded as `embedder_settings` say (none when `load_model` is False: mode "bm25" only); refuses a collection
        of another embedder. `rerank`: how mode "rerank" ranks (default: the defaults)."""
        try:
            emb = embedder
            if emb is None and load_model:
                options = (embedder_settings or EmbedderSettings.defaults()).override(model=model).load_options()
                emb = Embedder.from_pretrained(**options)
            if emb is not None and store.exists():
                store.check_fingerprint(emb.fingerprint)
        except BaseException:
            store.close()  # never keep the embedded store's lock for a searcher that was not made
            raise
        return cls(store=store, embedder=emb, rerank=rerank or RerankSettings.defaults())

    def _calibration(self) -> Background:
        """The background sample of the collection's vectors, taken once per write generation."""
        generation = self.store.generation()
        if self._background is None or self._background.generation != generation:
            self._background = Background(self.store.sample_vectors((ECHO, CLASSICAL), SAMPLE_SIZE), generation)
        return self._background

    @property
    def model(self) -> Embedder:
        """The embedder; `InvalidRequestError` when this searcher was opened without one."""
        if self.embedder is None:
            raise InvalidRequestError("this searcher was opened without a model: only mode 'bm25' can be searched")
        return self.embedder

    @property
    def in_process(self) -> bool:
        """Always: the store and the model are in this process (`SearchBackend.in_process`)."""
        return True

    def info(self) -> CollectionInfo:
        return self.store.info()

    def rankings(self) -> tuple[str, ...]:
        """The rankings this searcher can give: bm25 alone without a model, "rerank" only when the model can."""
        if self.embedder is None:
            return (BM25,)
        return tuple(r for r in SEARCH_RANKINGS if r != RERANK or self.embedder.rerank_refusal is None)

    def generation(self) -> int:
        """The collection's write generation (`Collection.generation`): it changes whenever any process writes."""
        return self.store.generation()

    def sources(self) -> list[str]:
        """The distinct source paths in the collection, sorted (empty when nothing is ingested)."""
        return self.store.sources()

    def chunks(self, source: str, first: int = 0, last: int | None = None) -> list[ChunkRecord]:
        """The chunks of `source` from index `first` to `last` (inclusive; None: to its end), in order."""
        return self.store.chunks(source, first, last)

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def search(self, query: SearchQuery | str, k: int | None = None, mode: Mode | None = None,
               filter: FilterLike = None, instruction: str | None = None) -> SearchResult:
        """Rank chunks for `query`: a question (`search("how do I ...?", k=10, mode="hybrid")`) or a `SearchQuery`
        (the options given replace its own)."""
        return self.search_many([SearchQuery.of(query, k, mode, filter, instruction)])[0]

    def search_many(self, queries: Sequence[SearchQuery]) -> list[SearchResult]:
        """Several queries in one model forward and one engine call (what the HTTP service's micro-batching calls).
        They must share one `SearchQuery.group_key` (`ValueError` otherwise); each result holds its query's k hits.

        Mode "bm25" runs no model: it ranks by the query's words alone. Mode "rerank" searches its first stage
        (`rerank.first_stage`, for at least `rerank.depth` hits), then rescores each query's top hits with the model
        (`search.query.rerank`); its result holds the first stage's list too."""
        if not queries:
            return []
        first = queries[0]
        if any(q.group_key() != first.group_key() for q in queries):
            raise ValueError("search_many: the queries must share mode, filter and instruction (and k for a fused "
                             "mode): SearchQuery.group_key")
        if first.mode == "rerank":
            return self._rerank_many(queries)
        k = max(q.k for q in queries)
        texts = [q.text for q in queries]
        rankings = RANKINGS_OF[first.mode]
        need_echo = ECHO in rankings or HYBRID in rankings
        need_classical = CLASSICAL in rankings
        t0 = time.perf_counter()
        wanted: dict[str, np.ndarray] = {}
        if need_echo or need_classical:
            model = self.model
            if not self._checked:
                self.store.check_fingerprint(model.fingerprint)
                self._checked = True
            vectors = model.encode(texts, kind="query", instruction=first.instruction or DEFAULT_INSTRUCTION,
                                   with_classical=need_classical)
            if need_echo:
                wanted[ECHO] = vectors.echo
            if need_classical and vectors.classical is not None:
                wanted[CLASSICAL] = vectors.classical
        embed_ms = (time.perf_counter() - t0) * 1000 / len(texts)
        rankings = tuple(r for r in rankings if r != CLASSICAL or CLASSICAL in wanted)  # a model without classical
        t1 = time.perf_counter()
        found = self.store.query(wanted, k, first.filter, texts=texts, rankings=rankings)
        search_ms = (time.perf_counter() - t1) * 1000 / len(texts)

        background = self._calibration() if wanted else None

        def hits(name: str, i: int) -> list[Hit]:
            if name not in found:
                return []
            stored = found[name][i][:queries[i].k]
            z = background.z_scores(name, wanted[name][i], [h.score for h in stored]) \
                if background and name in (ECHO, CLASSICAL) and name in wanted else [None] * len(stored)
            return [Hit.from_stored(rank, h, z[rank - 1]) for rank, h in enumerate(stored, start=1)]

        return [
            SearchResult(hits(ECHO, i), hits(CLASSICAL, i), {"embed_ms": embed_ms, "search_ms": search_ms},
                         bm25=hits(BM25, i), hybrid=hits(HYBRID, i))
            for i in range(len(texts))
        ]

    def _rerank_many(self, queries: Sequence[SearchQuery]) -> list[SearchResult]:
        """Mode "rerank": the first stage for every query in one call, then one model forward per query over its
        top `rerank.depth` passages."""
        if (reason := self.model.rerank_refusal) is not None:
            raise InvalidRequestError(f"mode 'rerank': {reason}")
        settings = self.rerank
        stage = settings.first_stage
        wide = [SearchQuery(q.text, max(q.k, settings.depth), stage, q.filter, q.instruction) for q in queries]
        results = self.search_many(wide)
        for query, result in zip(queries, results, strict=True):
            started = time.perf_counter()
            first_hits = result.ranking(stage)
            result.rerank = rerank_hits(self.model, query.text, first_hits, settings.depth,
                                        settings.passage_tokens, query.k)
            result.timings["rerank_ms"] = (time.perf_counter() - started) * 1000
            setattr(result, stage, first_hits[:query.k])
        return results
