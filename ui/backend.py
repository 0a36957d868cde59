"""What the UI talks to: the embedded `Searcher` (in-process store and model) or the HTTP query service."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from embedder import Embedder
from search.searcher import Searcher, SearchResult
from search.store import SOURCE, Store, StoreError


@dataclass(frozen=True)
class BackendConfig:
    """Where the collection lives; read from the environment so `streamlit run` and `search-ui` agree.

    `search_url` (SEARCH_URL) selects the HTTP query service; otherwise the store is opened in-process:
    a Qdrant server at `qdrant_url` (QDRANT_URL) or the embedded store under the data folder (ECHO_SEARCH_DATA).
    """

    search_url: str | None = None
    qdrant_url: str | None = None
    collection: str | None = None
    model: str | None = None

    @classmethod
    def from_env(cls) -> BackendConfig:
        def env(name: str) -> str | None:
            return os.environ.get(name) or None

        return cls(env("SEARCH_URL"), env("QDRANT_URL"), env("ECHO_SEARCH_COLLECTION"), env("ECHO_SEARCH_MODEL"))


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
    """One searcher per server process (the embedded store allows one client at a time)."""

    searcher: Searcher
    config: BackendConfig

    @property
    def mode(self) -> str:
        """'embedded', 'qdrant' (server by URL, in-process model) or 'http' (query service)."""
        return "qdrant" if self.config.qdrant_url else "embedded"

    def search(self, query: str, k: int, sources: list[str] | None, instruction: str | None) -> SearchResult:
        return self.searcher.search(query, k=k, mode="both", filter=sources or None, instruction=instruction or None)

    def summary(self) -> CollectionSummary:
        info = self.searcher.info()
        return CollectionSummary(
            info.name, info.location, info.points, self._sources() if info.points else [], info.fingerprint,
            dict(info.embedder),
        )

    def _sources(self) -> list[str]:
        store = self.searcher.store
        hits = store.client.facet(store.collection, key=SOURCE, limit=10_000, exact=True).hits
        return sorted(str(h.value) for h in hits)

    def close(self) -> None:
        self.searcher.store.close()


def load_embedder(model: str | None) -> Embedder:
    """The model questions are embedded with (slow: load it once per process); None for the default."""
    return Embedder.from_pretrained(model)


def open_backend(config: BackendConfig, embedder: Embedder) -> Backend:
    """Open the store with `embedder`; raises `StoreError` subclasses whose messages say what to do.

    On a refusal the store is closed at once, so that the embedded store's lock is not held by a half-open client.
    """
    store = Store.open(url=config.qdrant_url, collection=config.collection)
    try:
        if store.exists():
            store.check_fingerprint(embedder.fingerprint)
    except BaseException:
        store.close()
        raise
    return Backend(Searcher(store=store, embedder=embedder), config)


__all__ = ["Backend", "BackendConfig", "CollectionSummary", "StoreError", "load_embedder", "open_backend"]
