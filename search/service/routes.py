"""The service's own routes: `POST /search` (admitted by the service's gate, `search.service.admission`; dropped
when its client hangs up), `GET /health` (never waits for the model), `GET /collection` and `GET /chunks`."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from embedder.templates import DEFAULT_INSTRUCTION
from search.query.searcher import Searcher
from search.service.batching import MicroBatcher
from search.service.disconnect import unless_gone
from search.service.schema import (
    ChunksResponse,
    CollectionResponse,
    HealthResponse,
    SearchRequest,
    SearchResponse,
    Timings,
)


def add_search_routes(app: FastAPI, searcher: Searcher, batcher: MicroBatcher, auth: list[Any],
                      errors: dict[int | str, dict[str, Any]]) -> None:
    """Serve `/search`, `/health`, `/collection` and `/chunks` over `searcher` through `batcher`."""
    @app.post("/search", response_model=SearchResponse, dependencies=auth, responses=errors)
    async def search(body: SearchRequest, request: Request) -> Any:
        """Rank chunks for a question by echo, classical, BM25 or hybrid (see `mode`). 503 with Retry-After when the
        queue is full (`SEARCH_MAX_QUEUE`); a request whose client hangs up while it waits is dropped before its
        forward."""
        arrived = time.perf_counter()
        query = body.to_query()
        tokens = 0 if query.mode == "bm25" else searcher.model.prompt_tokens(
            query.text, "query", instruction=query.instruction or DEFAULT_INSTRUCTION)
        batcher.admission.check_tokens([tokens], "query", "the query and instruction make a {tokens}-token prompt")
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
                              collection_exists=exists, rankings=list(searcher.rankings()))
        return JSONResponse(body.model_dump())

    @app.get("/collection", response_model=CollectionResponse, dependencies=auth, responses=errors)
    async def collection() -> CollectionResponse:
        """Points, source files, the embedder fingerprint and the write generation of the collection."""
        info = await batcher.run(searcher.info)
        return CollectionResponse(**info.as_dict())

    @app.get("/chunks", response_model=ChunksResponse, dependencies=auth, responses=errors)
    async def chunks(source: str, first: Annotated[int, Query(ge=0)] = 0,
                     last: Annotated[int | None, Query(ge=0)] = None) -> ChunksResponse:
        """The chunks of one source from index `first` to `last` (inclusive; none: to its end), in order: a document,
        or a hit's neighbours, as stored (empty when the source has none there)."""
        records = await batcher.run(lambda: searcher.chunks(source, first, last))
        return ChunksResponse(source=source, chunks=[record.as_dict() for record in records])
