"""`SharedSearcher`, what the UI talks to: the `SearchBackend` the settings choose (the HTTP query service,
`SEARCH_URL`, or the store and model in this process), shared by every browser session of the server process.

In HTTP mode nothing here imports the embedder, `ingest` or torch: those imports happen only on the in-process path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from embedder.settings import EmbedderSettings
from search.backend import SearchBackend, open_backend, open_searcher
from search.query import SearchQuery
from search.results import SearchResult
from search.settings import Settings

if TYPE_CHECKING:
    from embedder import Embedder
    from ingest.report import IngestProgress, IngestReport
    from search.searcher import Searcher

Uploader = Callable[[list[Path], "Callable[[IngestProgress], None] | None"], "IngestReport"]
"""Ingests uploaded files into the open collection (`paths, progress -> report`)."""


@dataclass
class CollectionSummary:
    """What the sidebar shows about the collection."""

    name: str
    location: str
    chunks: int
    sources: list[str]
    fingerprint: str | None
    embedder: dict[str, Any] = field(default_factory=dict)


@dataclass
class SharedSearcher:
    """One `SearchBackend` per server process, shared by all browser sessions.

    In-process calls are serialised: sessions run in threads, and the embedded store and the model are one
    client each (a search waits while an upload is being ingested). The HTTP service batches calls itself.
    """

    backend: SearchBackend
    settings: Settings
    uploader: Uploader | None = None
    """Set when uploads can be ingested: only with the store and the model in this process."""
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def mode(self) -> str:
        """'http' (query service), 'qdrant' (Qdrant server, model in this process) or 'embedded'."""
        if not self.backend.in_process:
            return "http"
        return "qdrant" if self.settings.store.qdrant_url else "embedded"

    def _exclusive(self) -> AbstractContextManager[object]:
        return self.lock if self.backend.in_process else nullcontext()

    @property
    def can_upload(self) -> bool:
        return self.uploader is not None

    def search(self, query: SearchQuery) -> SearchResult:
        with self._exclusive():
            return self.backend.search(query)

    def summary(self) -> CollectionSummary:
        with self._exclusive():
            info = self.backend.info()
            sources = self.backend.sources() if info.points else []
        return CollectionSummary(info.name, info.location, info.points, sources, info.fingerprint, dict(info.embedder))

    def ingest(self, paths: list[Path], progress: Callable[[IngestProgress], None] | None = None) -> IngestReport:
        """Ingest files with the open store and model (the embedded store allows only this one client)."""
        if self.uploader is None:
            raise RuntimeError("uploads need direct store access; with SEARCH_URL, run `ingest PATH` on the server")
        with self.lock:
            return self.uploader(list(paths), progress)

    def close(self) -> None:
        with self._exclusive():
            self.backend.close()


def load_embedder(settings: EmbedderSettings) -> Embedder:
    """The model questions are embedded with (slow: load it once per process).

    One warm-up query runs here, so the first real question does not pay the first forward's set-up
    (about 3 s against under 1 s for later ones with Gemma-3-270M on 2 CPU cores).
    """
    from embedder import Embedder, tune_process

    tune_process(settings.device)  # this process runs the model: OpenBLAS off its cores, bounded oneDNN caches
    embedder = Embedder.from_pretrained(**settings.load_options())
    embedder.encode(["warm up"], kind="query")
    return embedder


def open_shared_searcher(settings: Settings, embedder: Callable[[], Embedder]) -> SharedSearcher:
    """The query service's client when `settings.service.url` is set (checked to answer), else a `Searcher` on the
    store with the model `embedder()` returns (called only then). Store refusals raise `StoreError` subclasses whose
    messages say what to do; the embedded store's lock is not kept by a half-open client."""
    if settings.service.url:
        return SharedSearcher(open_backend(settings), settings)
    searcher = open_searcher(settings, loader=embedder)  # the store first: a locked one is refused before the model
    return SharedSearcher(searcher, settings, uploader=_uploader(searcher))


def _uploader(searcher: Searcher) -> Uploader:
    from ingest.offline import setup_offline
    from ingest.pipeline import ingest_paths

    def ingest(paths: list[Path], progress: Callable[[IngestProgress], None] | None) -> IngestReport:
        setup_offline()  # this process parses uploads: unstructured with no telemetry and no spaCy download
        return ingest_paths(paths, searcher.store, searcher.model, progress=progress)

    return ingest
