"""`SharedSearcher`, what the UI talks to: the `SearchBackend` the settings choose (the HTTP query service,
`SEARCH_URL`, or the store and model in this process), shared by every browser session of the server process.

In process, the UI writes as `search serve` does (`search.service_ingest`): uploads, and the files and folders it
keeps in sync (`search-ui --watch`, `ECHO_SEARCH_UI_WATCH`), are ingested on their own thread with every store call
taken under the store lock, so searches are answered between an ingest's batches.

In HTTP mode nothing here imports the embedder, `ingest` or torch: those imports happen only on the in-process path.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from embedder.settings import EmbedderSettings
from search.query.backend import SearchBackend, open_backend, open_searcher
from search.query.request import SearchQuery
from search.query.results import SearchResult
from search.settings import Settings, SettingsError

if TYPE_CHECKING:
    from embedder import Embedder
    from ingest.report import IngestProgress, IngestReport
    from search.service_ingest import ServiceIngest

T = TypeVar("T")

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
    generation: int
    """The collection's write generation when this was read (`SearchBackend.generation`)."""
    embedder: dict[str, Any] = field(default_factory=dict)


@dataclass
class SharedSearcher:
    """One `SearchBackend` per server process, shared by all browser sessions.

    In-process calls are serialised: sessions run in threads, and the embedded store is one client (an ingest takes
    the lock one store call at a time, so a search waits for one call, not for the whole ingest). The HTTP service
    batches calls itself.
    """

    backend: SearchBackend
    settings: Settings
    uploader: Uploader | None = None
    """Set when uploads can be ingested: only with the store and the model in this process."""
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    stop_writes: Callable[[], None] | None = None
    """Stops the uploads and syncs in flight after their batch and waits for them (set with `uploader`)."""

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
        """The collection as it is now, with its write generation read first (so that an answer kept under it is
        never one from before a later write)."""
        with self._exclusive():
            generation = self.backend.generation()
            info = self.backend.info()
            sources = self.backend.sources() if info.points else []
        return CollectionSummary(info.name, info.location, info.points, sources, info.fingerprint, generation,
                                 dict(info.embedder))

    def ingest(self, paths: list[Path], progress: Callable[[IngestProgress], None] | None = None) -> IngestReport:
        """Ingest files with the open store and model (the embedded store allows only this one client); searches
        are answered between its batches."""
        if self.uploader is None:
            raise RuntimeError("uploads need direct store access; with SEARCH_URL, run `ingest PATH` on the server")
        return self.uploader(list(paths), progress)

    def close(self) -> None:
        if self.stop_writes is not None:
            self.stop_writes()
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
    store with the model `embedder()` returns (called only then), which keeps `settings.ui.watch` in sync on a thread
    of its own until closed. Store refusals raise `StoreError` subclasses whose messages say what to do; the embedded
    store's lock is not kept by a half-open client. Folders to watch with a service are a `SettingsError`."""
    if settings.service.url:
        if settings.ui.watch:
            raise SettingsError(
                f"the UI keeps folders in sync (search-ui --watch, ECHO_SEARCH_UI_WATCH) only when it holds the store, "
                f"and it uses the search service at {settings.service.url} (SEARCH_URL): run `search serve --watch "
                "PATH` there instead")
        return SharedSearcher(open_backend(settings), settings)
    from search.service_ingest import ServiceIngest

    searcher = open_searcher(settings, loader=embedder)  # the store first: a locked one is refused before the model
    lock = threading.RLock()
    ingests = ServiceIngest(searcher, lambda call: _holding(lock, call))
    shared = SharedSearcher(searcher, settings, uploader=_uploader(ingests), lock=lock, stop_writes=ingests.close)
    if settings.ui.watch:
        from search.service_ingest import IngestRequest

        watched = IngestRequest.model_validate({"paths": [str(p.expanduser().absolute()) for p in settings.ui.watch]})
        threading.Thread(target=ingests.watch, args=(watched,), name="ui-watch", daemon=True).start()
    return shared


def _holding(lock: threading.RLock, call: Callable[[], T]) -> T:
    """`call()` with `lock` held: one store call of an ingest, between searches."""
    with lock:
        return call()


def _uploader(ingests: ServiceIngest) -> Uploader:
    from search.service_ingest import IngestRequest

    def ingest(paths: list[Path], progress: Callable[[IngestProgress], None] | None) -> IngestReport:
        return ingests.run(IngestRequest.model_validate({"paths": [str(p) for p in paths]}), progress, ingests.closing)

    return ingest
