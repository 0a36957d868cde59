"""`HttpSearcher`: the `SearchBackend` over the HTTP query service (`search serve`), for thin clients (no torch)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx

from search.query.request import SearchQuery
from search.query.results import Hit, Mode, SearchResult
from search.store import (
    RANKINGS,
    ChunkRecord,
    CollectionInfo,
    CollectionNotFoundError,
    FilterLike,
    FingerprintMismatchError,
    MissingBm25Error,
    StoreError,
    StoreLockedError,
    StoreUnavailableError,
)
from search.validation import InvalidRequestError

_ERRORS: dict[str, type[StoreError]] = {
    cls.__name__: cls
    for cls in (CollectionNotFoundError, FingerprintMismatchError, MissingBm25Error, StoreLockedError,
                StoreUnavailableError)
}


class SearchServiceError(StoreError):
    """The search service refused a request (API key, internal error); the message says why."""


class HttpSearcher:
    """The `SearchBackend` answered by a running service: same calls and results as the in-process `Searcher`.

    Errors come back as the same exceptions: `InvalidRequestError` for an invalid request, `StoreError`
    subclasses for store problems, `StoreUnavailableError` when the service cannot be reached.
    """

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        self._http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def search(self, query: SearchQuery | str, k: int | None = None, mode: Mode | None = None,
               filter: FilterLike = None, instruction: str | None = None) -> SearchResult:
        """Rank chunks for `query`, a question with options or a `SearchQuery` (`SearchBackend.search`), with the
        service's `POST /search` (`search.service.app.SearchRequest`)."""
        query = SearchQuery.of(query, k, mode, filter, instruction)
        body = {"query": query.text, "k": query.k, "mode": query.mode, "instruction": query.instruction,
                "filter": query.filter.to_json() if query.filter else None}
        data = self._request("POST", "/search", json=body)
        timings = {name: float(value) for name, value in data["timings"].items()}
        return SearchResult(
            echo=[Hit(**h) for h in data["echo"]], classical=[Hit(**h) for h in data["classical"]], timings=timings,
            bm25=[Hit(**h) for h in data.get("bm25", [])], hybrid=[Hit(**h) for h in data.get("hybrid", [])],
            rerank=[Hit(**h) for h in data.get("rerank", [])],
        )

    def search_many(self, queries: Sequence[SearchQuery]) -> list[SearchResult]:
        """One request per query (the service batches concurrent requests itself)."""
        return [self.search(q) for q in queries]

    @property
    def in_process(self) -> bool:
        """Never: the service owns the store and the model (`SearchBackend.in_process`)."""
        return False

    def info(self) -> CollectionInfo:
        """What the collection holds, as the service reads it (`GET /collection`)."""
        return CollectionInfo.from_dict(self._request("GET", "/collection"))

    def sources(self) -> list[str]:
        """The distinct source paths in the collection, sorted."""
        return self.info().sources

    def chunks(self, source: str, first: int = 0, last: int | None = None) -> list[ChunkRecord]:
        """The chunks of `source` from index `first` to `last` (inclusive; None: to its end), in order
        (`GET /chunks`)."""
        params: dict[str, Any] = {"source": source, "first": first} | ({} if last is None else {"last": last})
        return [ChunkRecord.from_dict(chunk) for chunk in self._request("GET", "/chunks", params=params)["chunks"]]

    def generation(self) -> int:
        """The collection's write generation, as the service reads it (`SearchBackend.generation`)."""
        return self.info().generation

    def health(self) -> dict[str, Any]:
        """The service's `/health` answer (it says whether the store is reachable)."""
        try:
            response = self._http.get("/health")
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        return dict(response.json())

    def rankings(self) -> tuple[str, ...]:
        """The rankings the service can give (its `/health` says: "rerank" only when its model can; a service from
        before that field: the store's four)."""
        return tuple(self.health().get("rankings", RANKINGS))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> HttpSearcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _unreachable(self, exc: Exception) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"cannot reach the search service at {self.url}: {exc}. Is `search serve` running?"
        )

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.is_success:
            return dict(response.json())
        try:
            payload = response.json()
            detail, kind = str(payload.get("detail")), str(payload.get("error", ""))
        except ValueError:
            detail, kind = response.text[:500], ""
        if response.status_code == 422:
            raise InvalidRequestError(detail)
        if response.status_code == 401:
            raise SearchServiceError(f"the search service at {self.url} refused the request: {detail} (set "
                                     "SEARCH_API_KEY)")
        error = _ERRORS.get(kind)
        if error is not None:
            raise error(detail)
        raise SearchServiceError(f"the search service at {self.url} answered {response.status_code}: {detail}")
