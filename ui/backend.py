"""What the UI talks to: the embedded `Searcher` (in-process store and model) or the HTTP query service."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from embedder import Embedder, tune_process
from ingest.offline import setup_offline
from ingest.pipeline import ingest_paths
from ingest.report import IngestProgress, IngestReport
from search.client import HttpSearcher
from search.searcher import Searcher, SearchResult


@dataclass(frozen=True)
class BackendConfig:
    """Where the collection lives; read from the environment so `streamlit run` and `search-ui` agree.

    `search_url` (SEARCH_URL, key SEARCH_API_KEY) selects the HTTP query service; otherwise the store is opened
    in-process: a Qdrant server at `qdrant_url` (QDRANT_URL) or the embedded store under the data folder
    (ECHO_SEARCH_DATA).
    """

    search_url: str | None = None
    search_api_key: str | None = None
    qdrant_url: str | None = None
    collection: str | None = None
    model: str | None = None

    @classmethod
    def from_env(cls) -> BackendConfig:
        def env(name: str) -> str | None:
            return os.environ.get(name) or None

        return cls(env("SEARCH_URL"), env("SEARCH_API_KEY"), env("QDRANT_URL"), env("ECHO_SEARCH_COLLECTION"),
                   env("ECHO_SEARCH_MODEL"))


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
class Backend:
    """One searcher per server process, shared by all browser sessions.

    In-process calls are serialised: sessions run in threads, and the embedded store and the model are one
    client each (a search waits while an upload is being ingested). The HTTP service batches calls itself.
    """

    searcher: Searcher | HttpSearcher
    config: BackendConfig
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def mode(self) -> str:
        """'http' (query service), 'qdrant' (Qdrant server, model in this process) or 'embedded'."""
        if isinstance(self.searcher, HttpSearcher):
            return "http"
        return "qdrant" if self.config.qdrant_url else "embedded"

    def _exclusive(self) -> AbstractContextManager[object]:
        return nullcontext() if isinstance(self.searcher, HttpSearcher) else self.lock

    @property
    def can_upload(self) -> bool:
        """Uploads are ingested with this process's store and model, which the HTTP mode does not have."""
        return isinstance(self.searcher, Searcher)

    def search(self, query: str, k: int, sources: list[str] | None, instruction: str | None) -> SearchResult:
        with self._exclusive():
            return self.searcher.search(query, k=k, mode="both", filter=sources or None,
                                        instruction=instruction or None)

    def summary(self) -> CollectionSummary:
        with self._exclusive():
            info = self.searcher.info()
            sources = self.searcher.sources() if info.points else []
        return CollectionSummary(info.name, info.location, info.points, sources, info.fingerprint, dict(info.embedder))

    def ingest(self, paths: list[Path], progress: Callable[[IngestProgress], None] | None = None) -> IngestReport:
        """Ingest files with the open store and model (the embedded store allows only this one client)."""
        if not isinstance(self.searcher, Searcher):
            raise RuntimeError("uploads need direct store access; with SEARCH_URL, run `ingest PATH` on the server")
        setup_offline()  # this process parses uploads: unstructured with no telemetry and no spaCy download
        with self.lock:
            return ingest_paths(list(paths), self.searcher.store, self.searcher.embedder, progress=progress)

    def close(self) -> None:
        with self._exclusive():
            self.searcher.close()


def load_embedder(model: str | None) -> Embedder:
    """The model questions are embedded with (slow: load it once per process); None for the default.

    One warm-up query runs here, so the first real question does not pay the first forward's set-up
    (about 3 s against under 1 s for later ones with Gemma-3-270M on 2 CPU cores).
    """
    tune_process()  # this process runs the model: OpenBLAS off its cores, bounded oneDNN caches
    embedder = Embedder.from_pretrained(model)
    embedder.encode(["warm up"], kind="query")
    return embedder


def open_http(config: BackendConfig) -> Backend:
    """A client of the query service at `config.search_url`; checks it answers (`StoreUnavailableError` if not)."""
    assert config.search_url
    searcher = HttpSearcher(config.search_url, api_key=config.search_api_key)
    try:
        searcher.health()
    except BaseException:
        searcher.close()
        raise
    return Backend(searcher, config)


def open_embedded(config: BackendConfig, embedder: Embedder) -> Backend:
    """Open the store with `embedder`; raises `StoreError` subclasses whose messages say what to do.

    On a refusal the store is closed at once, so that the embedded store's lock is not held by a half-open client.
    """
    return Backend(Searcher.open(url=config.qdrant_url, collection=config.collection, embedder=embedder), config)
