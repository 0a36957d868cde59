"""The search service the UI talks to: the one `SEARCH_URL` names, else the one that holds the embedded store (a
`search serve`, `ingest --watch`, another UI), else one the UI starts itself (`search.service.child`), which then holds
the store for everyone (`search`, `ingest`, `search eval`, LangChain, MCP reach it through its announcement) and stops
with the UI. The UI process never opens the store or loads the model."""

from __future__ import annotations

from dataclasses import dataclass

from search.query.backend import holder_url
from search.service.child import ChildService, start_service
from search.settings import Settings, SettingsError


@dataclass
class Service:
    """A search service and how the UI came by it."""

    url: str
    how: str
    """"SEARCH_URL", "holds the store" (found announced) or "started by this page"."""
    child: ChildService | None = None
    """The service this page started (stopped with it)."""

    @property
    def local(self) -> bool:
        """On this machine and on this data folder: files saved here can be ingested by path."""
        return self.how != "SEARCH_URL"

    def stop(self) -> None:
        """Stop the service if this page started it."""
        if self.child is not None:
            self.child.stop()


def find_or_start(settings: Settings) -> Service:
    """The service for `settings` (see the module); folders to watch (`settings.ui.watch`) go to a service this page
    starts, and are a `SettingsError` beside one it did not. A started service that stops at once (a locked store,
    a fingerprint mismatch) raises `ServiceStartError` with its own message."""
    if settings.service.url:
        _no_watch(settings, f"uses the search service at {settings.service.url} (SEARCH_URL)")
        return Service(settings.service.url, "SEARCH_URL")
    if url := holder_url(settings):
        _no_watch(settings, f"found the search service at {url} holding the store")
        return Service(url, "holds the store")
    child = start_service(settings, settings.ui.watch)
    return Service(child.url, "started by this page", child)


def _no_watch(settings: Settings, where: str) -> None:
    if settings.ui.watch:
        raise SettingsError(f"the UI keeps folders in sync (search-ui --watch, ECHO_SEARCH_UI_WATCH) only through a "
                            f"service it starts, and it {where}: run `search serve --watch PATH` there instead")
