"""How a higher layer adds to the service without the service importing it (the arrows point down: `ingest` ->
`search`): a plugin, found through the entry point group `echo_search.service`, gets the app and a `ServiceContext`
and returns a `ServicePart` that the service starts and closes with itself. `ingest` registers its `POST /ingest`
routes and `search serve --watch` this way (`ingest.service:plugin`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from fastapi import FastAPI

    from search.query.searcher import Searcher

GROUP = "echo_search.service"


@dataclass(frozen=True)
class ServiceContext:
    """What the service lends a plugin."""

    searcher: Searcher
    call: Callable[[Callable[[], Any]], Any]
    """Runs one call on the store's one thread (`MicroBatcher.call`), between searches: the embedded store is used
    from that thread only."""
    auth: Sequence[Any]
    """The dependencies that check the API key (empty without one): give them to protected routes."""
    errors: Mapping[int | str, Any]
    """The error responses of the OpenAPI document, in the service's error shape."""
    watch: tuple[str, ...]
    """Absolute paths `search serve --watch` keeps in sync."""


class ServicePart(Protocol):
    """What a plugin added, started once the service runs and closed before the store is."""

    protected: tuple[str, ...]
    """Paths that need the API key."""

    def start(self) -> None: ...

    def close(self) -> None: ...


Plugin = Callable[["FastAPI", ServiceContext], ServicePart]


def installed_plugins() -> list[Plugin]:
    """The plugins of the installed packages (the entry point group `echo_search.service`)."""
    return [entry.load() for entry in entry_points(group=GROUP)]
