"""Prometheus metrics of the query service, served at `GET /metrics` in the text exposition format.

Every app has a registry of its own (several services in one process, as in the tests, never share counters). The
instruments are fed by `RequestMetrics` (every HTTP request), the micro-batcher (`BatchObserver`: searches), the
embeddings endpoint (`search.service.embedding_runner`) and, at each scrape, the embedder (tokens computed, load time)
and the collection (points).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from embedder import Embedder
from search.query.results import SearchResult
from search.query.searcher import Searcher
from search.service.batching import MicroBatcher
from search.store import StoreError

log = logging.getLogger("search.service.app")

SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256)


class _EmbedderCollector(Collector):
    """Read at each scrape: the tokens the model has computed, and how long it took to load."""

    def __init__(self, embedder: Embedder | None) -> None:
        self.embedder = embedder

    def collect(self) -> Iterator[Metric]:
        if self.embedder is None:  # a service without a model (bm25 only)
            return
        yield CounterMetricFamily("echo_search_model_tokens", "Tokens the model computed (padding included; a cached "
                                  "prompt prefix is computed once), for searches and embeddings",
                                  value=self.embedder.tokens_computed)
        if self.embedder.load_seconds is not None:
            yield GaugeMetricFamily("echo_search_model_load_seconds", "Seconds the model took to load at start-up",
                                    value=self.embedder.load_seconds)


class ServiceMetrics:
    """The service's instruments, in a registry of their own; also the batcher's `BatchObserver`."""

    def __init__(self, embedder: Embedder | None) -> None:
        self.registry = CollectorRegistry()
        registry = self.registry
        self.requests = Counter("echo_search_requests", "HTTP requests answered, by route and status",
                                ["route", "status"], registry=registry)
        self.latency = Histogram("echo_search_request_seconds", "Time from a request's arrival to its response",
                                 ["route"], buckets=SECONDS, registry=registry)
        self.queue = Histogram("echo_search_queue_seconds", "From a request's arrival until its texts' forward "
                               "started (answers from the cache are not counted)", ["endpoint"], buckets=SECONDS,
                               registry=registry)
        self.embed = Histogram("echo_search_embed_seconds", "Model forward time of one batch", ["endpoint"],
                               buckets=SECONDS, registry=registry)
        self.search = Histogram("echo_search_search_seconds", "Time the store took to rank one batch of queries",
                                buckets=SECONDS, registry=registry)
        self.batch_size = Histogram("echo_search_batch_size", "Texts per batch (searches: queries per forward)",
                                    ["endpoint"], buckets=SIZES, registry=registry)
        self.cache_hits = Counter("echo_search_cache_hits", "Searches answered from the LRU cache",
                                  registry=registry)
        self.points = Gauge("echo_search_collection_points", "Points in the collection (counted again after a write)",
                            registry=registry)
        registry.register(_EmbedderCollector(embedder))
        ProcessCollector(registry=registry)  # process_resident_memory_bytes, process_cpu_seconds_total, ...
        self._points_generation: int | None = None

    def cache_hit(self) -> None:
        self.cache_hits.inc()

    def batch(self, mode: str, results: list[SearchResult], queued: list[float]) -> None:
        """One micro-batch of searches (`BatchObserver`); the searcher's timings are per query, shared out."""
        size = len(results)
        self.batch_size.labels("search").observe(size)
        for seconds in queued:
            self.queue.labels("search").observe(seconds)
        timings = results[0].timings
        if mode != "bm25":  # bm25 runs no model
            self.embed.labels("search").observe(timings.get("embed_ms", 0.0) * size / 1000)
        self.search.observe(timings.get("search_ms", 0.0) * size / 1000)

    def embeddings_queued(self, seconds: float) -> None:
        self.queue.labels("embeddings").observe(seconds)

    def embeddings_forward(self, texts: int, seconds: float) -> None:
        self.batch_size.labels("embeddings").observe(texts)
        self.embed.labels("embeddings").observe(seconds)

    async def count_points(self, searcher: Searcher, batcher: MicroBatcher) -> None:
        """Update the points gauge, counting on the batcher's worker thread only when the collection's write
        generation changed since the last count; a store that cannot be reached leaves it as it was."""
        try:
            generation = await asyncio.to_thread(searcher.generation)
            if generation != self._points_generation:
                self.points.set(await batcher.run(searcher.store.count))
                self._points_generation = generation
        except StoreError as exc:
            log.warning("metrics: cannot count the collection's points: %s", exc)


class RequestMetrics:
    """ASGI middleware: counts every HTTP request by route (the route's path template; `other` for paths the app
    does not serve) and status, and observes its latency. Add it last, so that it also sees the refusals of the
    other middleware."""

    def __init__(self, app: ASGIApp, metrics: ServiceMetrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    def _route(self, scope: Scope) -> str:
        for route in self.routes:
            match, child = route.matches(scope)
            if match is not Match.NONE:
                return str(getattr(child.get("route", route), "path", "other"))
        return "other"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = self._route(scope)
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception that escaped the app

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)


def add_metrics(app: FastAPI, metrics: ServiceMetrics, searcher: Searcher, batcher: MicroBatcher,
                dependencies: list[Any]) -> None:
    """Serve `GET /metrics` and count every request (call it after the other middleware is added);
    `dependencies`: the API key's security schemes, or none when the metrics are public."""
    app.add_middleware(RequestMetrics, metrics=metrics, routes=app.router.routes)

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=dependencies,
             responses={401: {"description": "API key missing (unless SEARCH_METRICS_PUBLIC)"}})
    async def prometheus() -> Response:
        """The service's metrics in Prometheus' text format: requests by route and status, latency histograms
        (request, queue, embed, search), batch sizes, cache hits, tokens computed, points, model load time."""
        await metrics.count_points(searcher, batcher)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)
