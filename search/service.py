"""The HTTP query service (`search serve`): FastAPI app over one `Searcher`, micro-batched and cached.

Endpoints: `POST /search`, `GET /health`, `GET /collection`, and the OpenAPI docs at `/docs`. With an API key
configured, every endpoint but `/health` and the docs needs it (`X-API-Key: KEY` or `Authorization: Bearer KEY`).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict
from qdrant_client import models

from search.batching import MicroBatcher, Query
from search.searcher import Hit, Searcher
from search.store import (
    CollectionNotFoundError,
    FingerprintMismatchError,
    StoreError,
)

log = logging.getLogger("search.service")

MAX_QUERY_CHARS = 2000


class ServiceSettings(BaseSettings):
    """Service configuration from the environment (`SEARCH_API_KEY`, `SEARCH_HOST`, `SEARCH_PORT`, ...)."""

    model_config = SettingsConfigDict(env_prefix="SEARCH_")

    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_batch: int = Field(default=32, ge=1, le=256)
    batch_wait_ms: float = Field(default=5.0, ge=0)
    cache_size: int = Field(default=1024, ge=0)


class SearchRequest(BaseModel):
    """A question and how to search for it."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="The question.")
    k: int = Field(10, ge=1, le=100, description="Hits per vector kind.")
    mode: Literal["echo", "classical", "both"] = "both"
    filter: str | list[str] | models.Filter | None = Field(
        None, description="Source path(s) to search within, or a Qdrant filter object."
    )
    instruction: str | None = Field(
        None, max_length=MAX_QUERY_CHARS, description="Retrieval instruction; the default one when omitted."
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank", "query is blank")
        return value

    @field_validator("filter", mode="before")
    @classmethod
    def _filter(cls, value: Any) -> Any:
        """Parse a filter object here so that a bad one gets one short message, not one per union member."""
        if value is None or isinstance(value, str | list | models.Filter):
            return value
        if not isinstance(value, dict):
            raise PydanticCustomError("filter", "filter must be a source path, a list of them, or a Qdrant filter")
        try:
            return models.Filter.model_validate(value)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise PydanticCustomError(
                "filter", "not a valid Qdrant filter ({where}: {msg})", {"where": where, "msg": first["msg"]}
            ) from None


class HitModel(BaseModel):
    rank: int
    score: float
    text: str
    source: str
    chunk_index: int
    id: str
    payload: dict[str, Any]

    @classmethod
    def of(cls, hit: Hit) -> HitModel:
        return cls(**vars(hit))


class Timings(BaseModel):
    embed_ms: float = Field(description="Model forward time per query (a batched forward is shared out).")
    search_ms: float = Field(description="Nearest-neighbour search in Qdrant for this query.")
    queue_ms: float = Field(description="Wait in the micro-batch window.")
    total_ms: float = Field(description="Server time from request to response.")
    batch_size: int = Field(description="Queries in this forward; 0 for a cached answer.")


class SearchResponse(BaseModel):
    echo: list[HitModel]
    classical: list[HitModel]
    timings: Timings
    cached: bool


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    model_loaded: bool
    model: str
    store_reachable: bool
    collection_exists: bool
    detail: str | None = None


class CollectionResponse(BaseModel):
    name: str
    location: str
    points: int
    files: int
    sources: list[str]
    fingerprint: str | None
    embedder: dict[str, Any]


class ErrorResponse(BaseModel):
    detail: str
    error: str


def _error(status: int, exc: Exception, kind: str | None = None) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "error": kind or type(exc).__name__}, status_code=status)


def _store_status(exc: StoreError) -> int:
    if isinstance(exc, CollectionNotFoundError):
        return 404
    if isinstance(exc, FingerprintMismatchError):
        return 409
    return 503


def _readable(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


_KEY_HEADER = APIKeyHeader(name="X-API-Key", auto_error=False)
_BEARER = HTTPBearer(auto_error=False)


def _auth(api_key: str | None):  # noqa: ANN202 - a FastAPI dependency
    async def check(
        key: Annotated[str | None, Depends(_KEY_HEADER)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)],
    ) -> None:
        if api_key is None:
            return
        given = key or (credentials.credentials if credentials else None)
        if given is None or not secrets.compare_digest(given.encode(), api_key.encode()):
            raise _Unauthorized()

    return check


class _Unauthorized(Exception):
    pass


def create_app(searcher: Searcher, settings: ServiceSettings | None = None) -> FastAPI:
    """The service over an opened `searcher` (the model and store are loaded once, before serving)."""
    settings = settings or ServiceSettings()
    batcher = MicroBatcher(
        searcher, max_batch=settings.max_batch, max_wait_ms=settings.batch_wait_ms, cache_size=settings.cache_size
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        try:
            yield
        finally:
            await batcher.stop()

    app = FastAPI(
        title="echo-search",
        summary="Search a document collection with echo and classical embeddings, side by side.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.batcher = batcher
    auth = [Depends(_auth(settings.api_key or None))]
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse} for code in (401, 404, 409, 422, 503)
    }

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _readable(exc), "error": "ValidationError"}, status_code=422)

    @app.exception_handler(_Unauthorized)
    async def _unauthorized(_: Request, __: _Unauthorized) -> JSONResponse:
        return JSONResponse(
            {"detail": "missing or wrong API key: send it as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'",
             "error": "Unauthorized"},
            status_code=401,
            headers={"WWW-Authenticate": "Bearer"},
        )

    @app.exception_handler(StoreError)
    async def _store(_: Request, exc: StoreError) -> JSONResponse:
        return _error(_store_status(exc), exc)

    @app.exception_handler(ValueError)
    async def _value(_: Request, exc: ValueError) -> JSONResponse:
        return _error(422, exc, "ValidationError")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, RuntimeError(f"internal error ({type(exc).__name__}); see the server log"), "InternalError")

    @app.post("/search", response_model=SearchResponse, dependencies=auth, responses=errors)
    async def search(body: SearchRequest) -> SearchResponse:
        """Rank chunks for a question with echo and/or classical vectors."""
        started = time.perf_counter()
        answer = await batcher.search(Query(body.query, body.k, body.mode, body.filter, body.instruction))
        result = answer.result
        cached = answer.cached
        return SearchResponse(
            echo=[HitModel.of(h) for h in result.echo],
            classical=[HitModel.of(h) for h in result.classical],
            timings=Timings(
                embed_ms=0.0 if cached else result.timings.get("embed_ms", 0.0),
                search_ms=0.0 if cached else result.timings.get("search_ms", 0.0),
                queue_ms=answer.queue_ms,
                total_ms=(time.perf_counter() - started) * 1000,
                batch_size=answer.batch_size,
            ),
            cached=cached,
        )

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    async def health() -> JSONResponse:
        """Model loaded and store reachable: 200, else 503 with the reason."""
        model = searcher.embedder.model_name
        try:
            exists = await batcher.run(searcher.store.exists)
        except Exception as exc:  # any transport failure means "not reachable"
            body = HealthResponse(status="unavailable", model_loaded=True, model=model, store_reachable=False,
                                  collection_exists=False, detail=f"cannot reach the store: {exc}")
            return JSONResponse(body.model_dump(), status_code=503)
        body = HealthResponse(status="ok", model_loaded=True, model=model, store_reachable=True,
                              collection_exists=exists)
        return JSONResponse(body.model_dump())

    @app.get("/collection", response_model=CollectionResponse, dependencies=auth, responses=errors)
    async def collection() -> CollectionResponse:
        """Points, source files and the embedder fingerprint of the collection."""
        info = await batcher.run(searcher.info)
        sources = await batcher.run(searcher.sources)
        return CollectionResponse(
            name=info.name, location=info.location, points=info.points, files=len(sources), sources=sources,
            fingerprint=info.fingerprint, embedder=info.embedder,
        )

    return app


def serve(searcher: Searcher, settings: ServiceSettings) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    uvicorn.run(create_app(searcher, settings), host=settings.host, port=settings.port, log_level="info")
