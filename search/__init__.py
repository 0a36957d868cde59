"""Query side of echo-search: the store (`search.store`), the query side (`search.query`), the HTTP service
(`search.service`), the `search` command (`search.cli`) and `search eval` (`search.evaluation`).

`from search import Searcher, SearchQuery` is the Python API; `Searcher` is imported on first use (PEP 562), since it
loads torch and `import search.store` or the UI's HTTP client must not.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from search.query.request import SearchQuery
from search.query.results import Hit, SearchResult

if TYPE_CHECKING:
    from search.query.searcher import Searcher

__all__ = ["Hit", "SearchQuery", "SearchResult", "Searcher"]


def __getattr__(name: str) -> Any:
    if name == "Searcher":
        from search.query.searcher import Searcher

        return Searcher
    raise AttributeError(f"module 'search' has no attribute {name!r}")
