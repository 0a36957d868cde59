"""The HTTP query service (`search serve`): FastAPI app over one `Searcher`, micro-batched and cached.

Endpoints: `POST /search`, `GET /health`, `GET /collection`, and the OpenAPI docs at `/docs` (Swagger UI served
from the `fastapi-offline` package, no CDN). With an API key configured, every endpoint but `/health` and the docs
needs it (`X-API-Key: KEY` or `Authorization: Bearer KEY`), checked before the request body is read. Bodies over
`max_body_bytes` get 413 unread (by `Content-Length`, or once a chunked body passes the limit); a query whose
prompt exceeds `max_query_tokens` gets 422 before it reaches the model.

Installed plugins add routes (`search.service.plugins`): `ingest` adds `POST /ingest`, which syncs files and folders
on the service's machine into its collection while searches go on (how `ingest` hands its work to the service that
holds the embedded store), `POST /ingest/stop`, and the sync of `search serve --watch`.

`POST /rerank` scores passages for a question with the model's query likelihood, in Cohere's and TEI's shapes
(`search.service.rerank_api`). Also OpenAI-compatible embeddings, `POST /v1/embeddings` and `GET /v1/models`
(`search.service.openai_api`), and Prometheus metrics, `GET /metrics` (`search.service.metrics`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel, Field, PlainSerializer, PlainValidator, field_validator
from pydantic_core import PydanticCustomError
from starlette.exceptions import HTTPException

from embedder.templates import DEFAULT_INSTRUCTION
from search.errors import INTERNAL_HTTP_STATUS, rules, verdict
from search.query.request import SearchQuery
from search.query.results import Mode
from search.query.searcher import Hit, Searcher
from search.service.batching import MicroBatcher, QueueFullError
from search.service.disconnect import unless_gone
from search.service.guard import ApiKeyGuard, BodyLimit
from search.service.metrics import ServiceMetrics, add_metrics
from search.service.openai_api import add_openai_api
from search.service.plugins import Plugin, ServiceContext, ServicePart, installed_plugins
from search.service.rerank_api import add_rerank_api
from search.settings import ServiceSettings
from search.store import FilterError, QueryFilter
from search.store.edge.holder import announce, local_url, withdraw
from search.validation import K_MAX, K_MIN, InvalidRequestError

log = logging.getLogger("search.service.app")

MAX_QUERY_CHARS = 2000


WireFilter = str | list[str] | dict[str, Any] | None
"""A filter in JSON: source path(s) or a Qdrant filter object."""


def _parse_filter(value: Any) -> QueryFilter | None:
    """Parse the filter here, once, so that a bad one gets one short message, not one per member of the union."""
    try:
        return QueryFilter.parse(value)
    except FilterError as exc:
        raise PydanticCustomError("filter", str(exc)) from None


def _filter_json(value: QueryFilter | None) -> WireFilter:
    return value.to_json() if value is not None else None


class SearchRequest(BaseModel):
    """A question and how to search for it."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="The question.")
    k: int = Field(10, ge=K_MIN, le=K_MAX, strict=True, description="Hits per ranking (a JSON integer).")
    mode: Mode = Field("both", description="What to rank with: `echo`, `classical`, `both` (echo and classical), "
                       "`bm25` (the query's words; no model runs), `hybrid` (echo and BM25 fused in one engine "
                       "query), `rerank` (the first stage's top hits, hybrid's by default, rescored by the model: "
                       "the score is the mean log-probability of the question's tokens after the passage) or `all` "
                       "four but rerank. Each ranking fills its own list of the answer (`rerank` also fills its first "
                       "stage's).")
    filter: Annotated[
        QueryFilter | None,
        PlainValidator(_parse_filter, json_schema_input_type=WireFilter),
        PlainSerializer(_filter_json, return_type=WireFilter),
    ] = Field(None, description="Source path(s) to search within, or a Qdrant filter object.")
    instruction: str | None = Field(
        None, max_length=MAX_QUERY_CHARS, description="Retrieval instruction; the default one when omitted."
    )

    @field_validator("query")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("blank", "query is blank")
        return value

    def to_query(self) -> SearchQuery:
        """The request as the one query object; `InvalidRequestError` (422) for what the schema lets through but
        the product refuses (text that is not valid Unicode, an instruction with template slots)."""
        return SearchQuery(self.query, self.k, self.mode, self.filter, self.instruction)


class Timings(BaseModel):
    embed_ms: float = Field(description="Model forward time per query (a batched forward is shared out).")
    search_ms: float = Field(description="Nearest-neighbour search in Qdrant for this query.")
    queue_ms: float = Field(description="From the request's arrival until its forward started (or the cache answered).")
    total_ms: float = Field(description="Server time from the request's arrival to the response.")
    batch_size: int = Field(description="Queries in this forward; 0 for a cached answer.")
    rerank_ms: float = Field(0.0, description="Mode `rerank`: the model's forward over this query's passages.")


class SearchResponse(BaseModel):
    echo: list[Hit]
    classical: list[Hit]
    bm25: list[Hit] = Field(default_factory=list, description="Filled by mode `bm25` and `all`.")
    hybrid: list[Hit] = Field(default_factory=list, description="Filled by mode `hybrid` and `all`.")
    rerank: list[Hit] = Field(default_factory=list, description="Filled by mode `rerank`.")
    timings: Timings
    cached: bool


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    model_loaded: bool
    model: str
    store_reachable: bool
    collection_exists: bool
    detail: str | None = None


class ChunksResponse(BaseModel):
    source: str
    chunks: list[dict[str, Any]] = Field(description="The chunks' records in order (each a hit's `payload`: source, "
                                                     "chunk_index, text, title, page, n_chunks, ...).")


class CollectionResponse(BaseModel):
    name: str
    location: str
    points: int
    files: int
    sources: list[str]
    fingerprint: str | None
    embedder: dict[str, Any]
    index: str = Field(description='"hnsw", "partial" (recent writes not indexed yet), "exact" (small: full scan), '
                                   '"server" (a Qdrant server manages it), "deferred" (a server collection whose first '
                                   'ingest has not finished: indexed when one does) or "none" (no collection).')
    indexed_vectors: int
    segments: int
    generation: int = Field(description="The write generation: it changes on every write to the collection (equal "
                                        "values, equal contents), so a client can tell that an answer it kept is "
                                        "stale.")


class ErrorResponse(BaseModel):
    detail: str
    error: str


def _error(status: int, exc: Exception, kind: str | None = None) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "error": kind or type(exc).__name__}, status_code=status)


def _readable(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)


# The key is checked by `ApiKeyGuard` before the body is read; these only declare the schemes in the OpenAPI document.
_SCHEMES = [Security(APIKeyHeader(name="X-API-Key", auto_error=False)), Security(HTTPBearer(auto_error=False))]
_PROTECTED = ("/search", "/rerank", "/collection")


def create_app(searcher: Searcher, settings: ServiceSettings | None = None, watch: Sequence[str] = (),
               announce_url: str | None = None, plugins: Sequence[Plugin] | None = None) -> FastAPI:
    """The service over an opened `searcher` (the model and store are loaded once, before serving); `settings`
    default to the defaults (no environment read: `search serve` passes the `SEARCH_*` settings). `plugins`
    (default: the installed ones, `search.service.plugins`) add their routes: `ingest`'s `POST /ingest`, and the
    sync of the `watch` paths at start and after every change. With `announce_url`, a service on the embedded store
    announces that URL in the store's folder while it runs (`search.store.edge.holder`), so that every other entry
    point reaches the store through it."""
    settings = settings or ServiceSettings.defaults()
    metrics = ServiceMetrics(searcher.embedder)
    batcher = MicroBatcher(
        searcher, max_batch=settings.max_batch, max_wait_ms=settings.batch_wait_ms, cache_size=settings.cache_size,
        batch_tokens=settings.batch_tokens, max_queue=settings.max_queue, observer=metrics,
    )

    parts: list[ServicePart] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await batcher.start()
        for part in parts:
            part.start()
        announced = _announce(searcher, announce_url, bool(settings.api_key))
        try:
            yield
        finally:
            if announced is not None:
                withdraw(announced)
            for part in parts:
                await asyncio.to_thread(part.close)
            await batcher.stop()

    app: FastAPI = FastAPIOffline(
        title="echo-search",
        summary="Search a document collection with echo and classical embeddings, side by side.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.state.batcher = batcher
    app.state.hung_up = 0  # search and embedding requests whose client went away before their answer
    auth = _SCHEMES if settings.api_key else []
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse} for code in (401, 404, 409, 413, 422, 503)
    }

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _readable(exc), "error": "ValidationError"}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        """Starlette's own refusals in our error shape; a body that cannot be decoded (400) is a 422 like bad JSON."""
        if exc.status_code == 400:
            return _error(422, RuntimeError(f"body: {exc.detail}"), "ValidationError")
        if exc.status_code == 413:
            return _error(413, RuntimeError(str(exc.detail)), "ContentTooLarge")
        return JSONResponse({"detail": str(exc.detail), "error": type(exc).__name__}, status_code=exc.status_code,
                            headers=exc.headers)

    async def _refused(_: Request, exc: Exception) -> JSONResponse:
        """A product error (store, request, model), answered with the status and error name of `search.errors`."""
        found = verdict(exc)
        assert found is not None  # registered for the map's types only
        return _error(found.http_status, exc, found.http_error)

    for rule in rules():
        app.add_exception_handler(rule.error, _refused)

    @app.exception_handler(QueueFullError)
    async def _busy(_: Request, exc: QueueFullError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": "QueueFull"}, status_code=503,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(INTERNAL_HTTP_STATUS, RuntimeError(f"internal error ({type(exc).__name__}); see the server log"),
                      "InternalError")

    @app.post("/search", response_model=SearchResponse, dependencies=auth, responses=errors)
    async def search(body: SearchRequest, request: Request) -> Any:
        """Rank chunks for a question by echo, classical, BM25 or hybrid (see `mode`). 503 with Retry-After when the
        queue is full (`SEARCH_MAX_QUEUE`); a request whose client hangs up while it waits is dropped before its
        forward."""
        arrived = time.perf_counter()
        query = body.to_query()
        tokens = 0 if query.mode == "bm25" else searcher.model.prompt_tokens(
            query.text, "query", instruction=query.instruction or DEFAULT_INSTRUCTION)
        if tokens > settings.max_query_tokens:
            raise InvalidRequestError(
                f"query: the query and instruction make a {tokens}-token prompt; the limit is "
                f"{settings.max_query_tokens} tokens (SEARCH_MAX_QUERY_TOKENS)"
            )
        answer = await unless_gone(request, batcher.search(query, tokens, arrived=arrived))
        if answer is None:  # the client went away: nothing was computed for it, and nobody reads an answer
            app.state.hung_up += 1
            return Response(status_code=499)
        result = answer.result
        cached = answer.cached
        return SearchResponse(
            echo=result.echo,
            classical=result.classical,
            bm25=result.bm25,
            hybrid=result.hybrid,
            rerank=result.rerank,
            timings=Timings(
                embed_ms=0.0 if cached else result.timings.get("embed_ms", 0.0),
                search_ms=0.0 if cached else result.timings.get("search_ms", 0.0),
                queue_ms=answer.queue_ms,
                total_ms=(time.perf_counter() - arrived) * 1000,
                batch_size=answer.batch_size,
                rerank_ms=0.0 if cached else result.timings.get("rerank_ms", 0.0),
            ),
            cached=cached,
        )

    @app.get("/health", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
    async def health() -> JSONResponse:
        """Model loaded and store reachable: 200, else 503 with the reason. Never waits for the model."""
        model = searcher.model.model_name
        try:
            exists = await asyncio.to_thread(searcher.store.exists)
        except Exception as exc:  # any transport failure means "not reachable"
            body = HealthResponse(status="unavailable", model_loaded=True, model=model, store_reachable=False,
                                  collection_exists=False, detail=f"cannot reach the store: {exc}")
            return JSONResponse(body.model_dump(), status_code=503)
        body = HealthResponse(status="ok", model_loaded=True, model=model, store_reachable=True,
                              collection_exists=exists)
        return JSONResponse(body.model_dump())

    @app.get("/collection", response_model=CollectionResponse, dependencies=auth, responses=errors)
    async def collection() -> CollectionResponse:
        """Points, source files, the embedder fingerprint and the write generation of the collection."""
        info = await batcher.run(searcher.info)
        sources = await batcher.run(searcher.sources)
        generation = await batcher.run(searcher.generation)
        return CollectionResponse(
            name=info.name, location=info.location, points=info.points, files=len(sources), sources=sources,
            fingerprint=info.fingerprint, embedder=info.embedder, index=info.index,
            indexed_vectors=info.indexed_vectors, segments=info.segments, generation=generation,
        )

    @app.get("/chunks", response_model=ChunksResponse, dependencies=auth, responses=errors)
    async def chunks(source: str, first: Annotated[int, Query(ge=0)] = 0,
                     last: Annotated[int | None, Query(ge=0)] = None) -> ChunksResponse:
        """The chunks of one source from index `first` to `last` (inclusive; none: to its end), in order: a document,
        or a hit's neighbours, as stored (empty when the source has none there)."""
        records = await batcher.run(lambda: searcher.chunks(source, first, last))
        return ChunksResponse(source=source, chunks=[record.as_dict() for record in records])

    context = ServiceContext(searcher, batcher.call, auth, errors, tuple(watch))
    parts.extend(plugin(app, context) for plugin in (installed_plugins() if plugins is None else plugins))
    if settings.api_key:  # added after BodyLimit, so it runs before it
        protected = (*_PROTECTED, *(path for part in parts for path in part.protected))
        app.add_middleware(ApiKeyGuard, api_key=settings.api_key,
                           protected=protected if settings.metrics_public else (*protected, "/metrics"))
    add_rerank_api(app, searcher, batcher, settings, auth, errors)
    # /v1/: its own refusals, first
    app.state.embeddings = add_openai_api(app, searcher.embedder, batcher, settings, metrics, auth)
    add_metrics(app, metrics, searcher, batcher, [] if settings.metrics_public else auth)  # counts every request
    return app


def _announce(searcher: Searcher, url: str | None, needs_key: bool) -> Path | None:
    """Announce `url` in the embedded store's folder; None for a Qdrant server or no URL."""
    from search.store.edge.collection import EdgeCollection

    if url is None or not isinstance(searcher.store, EdgeCollection):
        return None
    return announce(Path(searcher.store.location), url, needs_key, searcher.store.name)


def serve(searcher: Searcher, settings: ServiceSettings, watch: Sequence[str] = ()) -> None:
    """Run the service with uvicorn until interrupted (SIGINT or SIGTERM)."""
    import uvicorn

    logger = logging.getLogger("search")  # the service's own lines (watch syncs, errors) next to uvicorn's
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    app = create_app(searcher, settings, watch, announce_url=local_url(settings.host, settings.port))
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info")
