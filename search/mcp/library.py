"""`Library`: the collection the MCP tools read, reached for each call the way the `search` command reaches it.

A `search serve` (or the UI) that holds the embedded store answers over HTTP; otherwise the store is opened for the
call and closed again, so that the assistant's server, which runs for as long as the assistant does, never keeps
the store from the user's other commands. The model loads on the first question that needs it and stays loaded.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from search.query.request import SearchQuery
from search.query.results import SearchResult
from search.settings import Settings
from search.store import ChunkRecord, CollectionInfo

if TYPE_CHECKING:
    from embedder import Embedder
    from search.query.backend import SearchBackend

log = logging.getLogger(__name__)


class Library:
    """Searches and reads one collection (the settings'); calls are serialised (one model, one store hold)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._embedder: Embedder | None = None
        self._lock = threading.Lock()
        self._announced: str | None = None

    def search(self, query: SearchQuery) -> SearchResult:
        """Rank chunks for `query`: the model loads on the first question that needs it (not for mode bm25)."""
        with self._backend(load_model=query.mode != "bm25") as backend:
            return backend.search(query)

    def about(self) -> CollectionInfo:
        """What the collection holds (no model)."""
        with self._backend(load_model=False) as backend:
            return backend.info()

    def chunks(self, source: str, first: int = 0, last: int | None = None) -> list[ChunkRecord]:
        """The chunks of `source` from index `first` to `last` (inclusive; None: to its end), in order (no model)."""
        with self._backend(load_model=False) as backend:
            return backend.chunks(source, first, last)

    @contextmanager
    def held(self) -> Iterator[None]:
        """Hold this library's lock: no call of this process opens the store meanwhile (an `ingest` run needs it)."""
        with self._lock:
            yield

    @contextmanager
    def _backend(self, load_model: bool) -> Iterator[SearchBackend]:
        from search.query.backend import open_backend
        from search.query.remote import HttpSearcher
        from search.query.searcher import Searcher

        with self._lock:
            backend = open_backend(self.settings, self._embedder, self._prepare, load_model=load_model)
            if isinstance(backend, HttpSearcher) and backend.url != self._announced:
                log.info("answered by the search service at %s", backend.url)
                self._announced = backend.url
            try:
                if isinstance(backend, Searcher) and backend.embedder is not None:
                    self._embedder = backend.embedder
                yield backend
            finally:
                backend.close()

    def _prepare(self) -> None:
        """Before the model first loads in this process: its thread settings, as the `search` command makes them."""
        if self._embedder is None:
            from embedder import tune_process

            tune_process(self.settings.embedder.device)
