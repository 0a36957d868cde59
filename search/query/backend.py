"""`SearchBackend`: what the `search` command and the UI search with, in-process or over HTTP.

Two implementations: `Searcher` (the store and the model in this process) and `HttpSearcher` (a running
`search serve`, `$SEARCH_URL`). `open_backend` picks one from the settings; the HTTP path imports neither the
embedder nor torch.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from search.query.request import SearchQuery
from search.query.results import Mode, SearchResult
from search.settings import Settings
from search.store import ChunkRecord, CollectionInfo, FilterLike

if TYPE_CHECKING:
    from embedder import Embedder
    from search.query.searcher import Searcher


@runtime_checkable
class SearchBackend(Protocol):
    """Rank chunks of one collection for questions, and say what the collection holds.

    Errors are the same whichever backend answers: `ValueError` for an invalid request, `StoreError` subclasses for
    store problems (`StoreUnavailableError` when the store or the service cannot be reached)."""

    @property
    def in_process(self) -> bool:
        """True when the store and the model are in this process (calls must then be serialised by the caller)."""
        ...

    def search(self, query: SearchQuery | str, k: int | None = None, mode: Mode | None = None,
               filter: FilterLike = None, instruction: str | None = None) -> SearchResult:
        """Rank chunks for `query`: a question with options (`search("how ...?", k=10, mode="hybrid")`) or a
        `SearchQuery` (the options given replace its own)."""
        ...

    def search_many(self, queries: Sequence[SearchQuery]) -> list[SearchResult]:
        """`search` for several queries sharing one `SearchQuery.group_key` (one model forward in-process; the
        service batches them itself)."""
        ...

    def info(self) -> CollectionInfo:
        """What the collection holds (`CollectionInfo`): points, sources, embedder, index and write generation."""
        ...

    def sources(self) -> list[str]:
        """The distinct source paths in the collection, sorted (empty when nothing is ingested)."""
        ...

    def chunks(self, source: str, first: int = 0, last: int | None = None) -> list[ChunkRecord]:
        """The chunks of `source` from index `first` to `last` (inclusive; None: to its end), in order
        (`Collection.chunks`)."""
        ...

    def rankings(self) -> tuple[str, ...]:
        """The rankings this backend can give, in `SEARCH_RANKINGS` order: "rerank" only when its model can
        (`Embedder.rerank_refusal`)."""
        ...

    def generation(self) -> int:
        """The collection's write generation: it changes on every write, whichever process writes (equal values,
        equal contents), so an answer cached under it is never served after a write."""
        ...

    def close(self) -> None:
        """Release the store, the model's hold on it, or the HTTP connection."""
        ...

    def __enter__(self) -> SearchBackend: ...

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None: ...


def open_backend(
    settings: Settings, embedder: Embedder | None = None, prepare: Callable[[], None] | None = None,
    load_model: bool = True, path: str | os.PathLike[str] | None = None,
) -> SearchBackend:
    """What answers for the store `settings` name, as every entry point reaches it: the HTTP client of the service
    at `settings.service.url` when set, else of the live service that holds the embedded store (the store allows one
    process: `search serve`, the UI or `ingest --watch` holds it for everyone), both checked to answer; else a
    `Searcher` on the store itself (`path`: its folder, default under the data folder) with `embedder` (default:
    loaded from `settings.embedder` unless `load_model` is False: then it searches mode "bm25" only; see
    `open_searcher`)."""
    url = settings.service.url or holder_url(settings, path)  # a holder found has answered `/health` already
    if url:
        from search.query.remote import HttpSearcher

        client = HttpSearcher(url, api_key=settings.service.api_key)
        if settings.service.url:
            try:
                client.health()
            except BaseException:
                client.close()
                raise
        return client
    return open_searcher(settings, embedder, prepare=prepare, load_model=load_model, path=path)


def holder_url(settings: Settings, path: str | os.PathLike[str] | None = None) -> str | None:
    """The URL of the live service that holds the embedded store `settings` name (or the store folder `path`), which
    every other process must ask (`search.store.edge.holder`); None for a Qdrant server or a free store.
    `StoreLockedError` when that service serves another collection."""
    from search.store.edge.holder import holding_service

    return holding_service(settings.store.embedded_folder(path), settings.store.collection)


def open_searcher(
    settings: Settings,
    embedder: Embedder | None = None,
    prepare: Callable[[], None] | None = None,
    loader: Callable[[], Embedder] | None = None,
    load_model: bool = True,
    path: str | os.PathLike[str] | None = None,
) -> Searcher:
    """A `Searcher` on the store of `settings.store` (its fusion too) with `embedder` (default: `loader()`, else
    loaded from `settings.embedder`, unless `load_model` is False).

    The store is opened first, before torch is imported and the model loaded, so that a locked, damaged or missing
    store is refused at once; then `prepare()` runs (the process's thread settings) and the model loads."""
    from search.store import open_collection

    store = open_collection(**settings.store.collection_options(), path=path)
    try:
        if prepare is not None and load_model:
            prepare()
        if embedder is None and loader is not None and load_model:
            embedder = loader()
        from search.query.searcher import Searcher

        return Searcher.with_store(store, embedder=embedder, embedder_settings=settings.embedder,
                                   load_model=load_model, rerank=settings.rerank)
    except BaseException:
        store.close()  # never keep the embedded store's lock for a searcher that was not made
        raise
