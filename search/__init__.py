"""Query side of echo-search: the store (`search.store`), the query side (`search.query`), the HTTP service
(`search.service`), the `search` command (`search.cli`) and `search eval` (`search.evaluation`).

`from search import Searcher, SearchQuery` is the Python API; its names are imported on first use (PEP 562), since
`Searcher` loads torch and the query side the store, and `import search.errors`, `import search.store` or the UI's
HTTP client must load neither.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.query.request import SearchQuery
    from search.query.results import Hit, SearchResult
    from search.query.searcher import Searcher

__all__ = ["Hit", "SearchQuery", "SearchResult", "Searcher"]


_HOMES = {"SearchQuery": "search.query.request", "Hit": "search.query.results", "SearchResult": "search.query.results",
          "Searcher": "search.query.searcher"}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'search' has no attribute {name!r}")
