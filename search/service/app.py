"""The HTTP query service (`search serve`): FastAPI app over one `Searcher`, micro-batched and cached.

Endpoints: `POST /search`, `GET /health`, `GET /collection`, and the OpenAPI docs at `/docs` (Swagger UI served
from the `fastapi-offline` package, no CDN). With an API key configured, every endpoint but `/health` and the docs
needs it (`X-API-Key: KEY` or `Authorization: Bearer KEY`), checked before the request body is read. Bodies over
`max_body_bytes` get 413 unread (by `Content-Length`, or once a chunked body passes the limit). One gate admits
the model's work (`search.service.admission`): a prompt over `max_query_tokens` gets 422 before it reaches the
model, a request past `max_queue` waiting ones 503 with Retry-After. Every error is answered with one verdict
(`search.service.errors`), in the service's shape or, under `/v1/`, in OpenAI's.

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
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Security
from fastapi.security import APIKeyHeader, HTTPBearer
from fastapi_offline import FastAPIOffline

from search.query.searcher import Searcher
from search.service.admission import Admission
from search.service.batching import MicroBatcher
from search.service.errors import add_error_handlers
from search.service.guard import ApiKeyGuard, BodyLimit
from search.service.metrics import ServiceMetrics, add_metrics
from search.service.openai_api import add_openai_api
from search.service.plugins import Plugin, ServiceContext, ServicePart, installed_plugins
from search.service.rerank_api import add_rerank_api
from search.service.routes import add_search_routes
from search.service.schema import ErrorResponse
from search.settings import ServiceSettings
from search.store.edge.holder import announce, local_url, withdraw

log = logging.getLogger("search.service.app")

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
        batch_tokens=settings.batch_tokens, admission=Admission.of(settings), observer=metrics,
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
    app.state.hung_up = 0  # search, rerank and embedding requests whose client went away before their answer
    auth = _SCHEMES if settings.api_key else []
    errors: dict[int | str, dict[str, Any]] = {
        code: {"model": ErrorResponse} for code in (401, 404, 409, 413, 422, 503)
    }

    add_error_handlers(app)
    add_search_routes(app, searcher, batcher, auth, errors)

    context = ServiceContext(searcher, batcher.call, auth, errors, tuple(watch))
    parts.extend(plugin(app, context) for plugin in (installed_plugins() if plugins is None else plugins))
    if settings.api_key:  # added after BodyLimit, so it runs before it
        protected = (*_PROTECTED, *(path for part in parts for path in part.protected))
        app.add_middleware(ApiKeyGuard, api_key=settings.api_key,
                           protected=protected if settings.metrics_public else (*protected, "/metrics"))
    add_rerank_api(app, searcher, batcher, auth, errors)
    add_openai_api(app, searcher.embedder, batcher, metrics, auth)
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
