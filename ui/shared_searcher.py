"""`SharedSearcher`, what the UI talks to: the HTTP client of its search service (`ui.holder`: the one `SEARCH_URL`
names, the one holding the store, or one the UI starts), shared by every browser session of the server process.

Uploads are saved under the data folder and ingested by that service (`POST /ingest`, as `ingest` hands its work
over), which holds the store; searches are answered between the ingest's batches. Nothing here imports the embedder,
a Qdrant package or torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ingest.handover import ingest_via_service
from ingest.options import IngestOptions
from ingest.report import IngestProgress, IngestReport
from search.query import CollectionInfo
from search.query.remote import HttpSearcher
from search.query.request import SearchQuery
from search.query.results import SearchResult
from search.settings import Settings
from ui.holder import Service, find_or_start


@dataclass
class SharedSearcher:
    """One search service client per server process, shared by all browser sessions (the service batches their
    calls itself)."""

    backend: HttpSearcher
    settings: Settings
    service: Service
    rankings: tuple[str, ...]
    """What the service can rank by (`SearchBackend.rankings`): "rerank" only when its model can."""

    @property
    def can_upload(self) -> bool:
        """Uploads need a service on this machine and data folder (not one that `SEARCH_URL` names)."""
        return self.service.local

    def search(self, query: SearchQuery) -> SearchResult:
        return self.backend.search(query)

    def info(self) -> CollectionInfo:
        """The collection as it is now, with its write generation (read first: an answer kept under it is never one
        from before a later write)."""
        return self.backend.info()

    def ingest(self, paths: list[Path], progress: Callable[[IngestProgress], None] | None = None) -> IngestReport:
        """Have the service ingest files saved on this machine; `HandoverError` when it refuses or fails."""
        if not self.can_upload:
            raise RuntimeError(f"uploads need a search service on this machine; the one at {self.service.url} "
                               "(SEARCH_URL) may not see these files: run `ingest PATH` where it runs")
        return ingest_via_service(self.service.url, self.settings.service.api_key, IngestOptions(paths=paths),
                                  progress or (lambda _: None), lambda _: None, threading.Event())

    def close(self) -> None:
        self.backend.close()
        self.service.stop()


def open_shared_searcher(settings: Settings) -> SharedSearcher:
    """The client of the service `ui.holder.find_or_start` gives for `settings`, checked to answer."""
    service = find_or_start(settings)
    client = HttpSearcher(service.url, api_key=settings.service.api_key)
    try:
        rankings = client.rankings()  # asks /health: the service answers
    except BaseException:
        client.close()
        service.stop()
        raise
    return SharedSearcher(client, settings, service, rankings)
