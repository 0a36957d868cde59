"""Query side of echo-search: the Qdrant store, `Searcher`, the HTTP service and the `search` command."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.query.request import SearchQuery
    from search.query.searcher import Hit, Searcher, SearchResult

__all__ = ["Hit", "SearchQuery", "SearchResult", "Searcher"]


def __getattr__(name: str) -> Any:
    # Lazy, so that `import search.store` (used by ingest) does not load torch and the model code.
    if name == "SearchQuery":
        from search.query.request import SearchQuery

        return SearchQuery
    if name in __all__:
        from search import searcher

        return getattr(searcher, name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")
