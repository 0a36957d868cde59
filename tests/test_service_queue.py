"""The query service under pressure: abandoned requests are never computed, the queue is bounded (503 with
Retry-After), and the batch order keeps a light query behind at most one heavy batch without starving heavy ones.

The model thread is held on a gate (no timing assumptions): requests pile up while it is shut."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from search.query.request import SearchQuery
from search.query.searcher import Searcher, SearchResult
from search.service.app import ServiceSettings, create_app
from search.service.batching import MicroBatcher, _Pending
from search.store import Collection, open_collection
from tests.search_helpers import fill, running


class GatedSearcher(Searcher):
    """Records every question it embeds; a query starting with "block" holds the model thread until `gate` opens."""

    gate: threading.Event
    embedded: list[str]

    def search_many(self, queries: Sequence[SearchQuery]) -> list[SearchResult]:
        self.embedded += [q.text for q in queries]
        if any(q.text.startswith("block") for q in queries):
            assert self.gate.wait(120), "the test never opened the gate"
        return super().search_many(queries)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, tiny_embedder) -> Iterator[Collection]:
    store = open_collection(path=tmp_path_factory.mktemp("queue") / "qdrant")
    fill(store, tiny_embedder)
    yield store
    store.close()


@pytest.fixture
def service(store: Collection, tiny_embedder):
    """(url, app, searcher) of a service whose model thread the test can hold."""

    def start(**settings: int):  # noqa: ANN202
        searcher = GatedSearcher(store=store, embedder=tiny_embedder)
        searcher.gate, searcher.embedded = threading.Event(), []
        app = create_app(searcher, ServiceSettings(cache_size=0, **settings))
        return app, searcher

    return start


@contextlib.contextmanager
def opened(gate: threading.Event) -> Iterator[None]:
    """Open the gate on the way out, also when the test fails, so that the service can stop."""
    try:
        yield
    finally:
        gate.set()


def _until(condition, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def _hang_up(url: str, query: str) -> None:
    """Send a whole search request, then close the connection without reading the answer."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps({"query": query}).encode()
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n%s" % (len(body), body))


def test_requests_whose_clients_hung_up_are_dropped_before_their_forward(service) -> None:
    app, searcher = service()
    with running(app) as url, concurrent.futures.ThreadPoolExecutor(2) as pool, opened(searcher.gate):
        batcher = app.state.batcher
        blocker = pool.submit(httpx.post, f"{url}/search", json={"query": "block the model"}, timeout=120)
        _until(lambda: searcher.embedded, "the blocking query to reach the model")
        abandoned = [f"abandoned {i} " + "x" * 300 for i in range(12)]
        for query in abandoned:
            _hang_up(url, query)
        _until(lambda: app.state.hung_up == 12, "the service to notice the hang-ups")
        searcher.gate.set()
        assert blocker.result().status_code == 200
        light = httpx.post(f"{url}/search", json={"query": "where is the kettle?"}, timeout=120)
        assert light.status_code == 200, light.text
    assert not [q for q in searcher.embedded if q.startswith("abandoned")]
    assert batcher.dropped <= 12  # those that reached the queue before their hang-up was noticed


def test_queue_ms_counts_the_wait_behind_other_work_on_the_model_thread(service) -> None:
    app, searcher = service()
    with running(app) as url, concurrent.futures.ThreadPoolExecutor(2) as pool, opened(searcher.gate):
        batcher = app.state.batcher
        holding = threading.Event()

        def hold() -> None:  # other work on the model thread: an embedding forward, an ingest batch
            holding.set()
            assert searcher.gate.wait(120), "the test never opened the gate"

        held = pool.submit(batcher.call, hold)
        assert holding.wait(60), "the model thread never ran the held work"
        light = pool.submit(httpx.post, f"{url}/search", json={"query": "where is the kettle?"}, timeout=120)
        _until(lambda: batcher._executor._work_queue.qsize() == 1, "the search to wait for the model thread")
        time.sleep(0.3)
        searcher.gate.set()
        held.result()
        timings = light.result().json()["timings"]
    waited = timings["total_ms"] - timings["embed_ms"] - timings["search_ms"]
    assert waited >= 300, timings
    assert timings["queue_ms"] >= 0.9 * waited, timings  # was a few ms: only the wait for the batcher


def test_a_full_queue_gets_503_with_retry_after_and_the_queued_ones_are_answered(service) -> None:
    app, searcher = service(max_queue=2)
    with running(app) as url, concurrent.futures.ThreadPoolExecutor(4) as pool, opened(searcher.gate):
        batcher = app.state.batcher
        blocker = pool.submit(httpx.post, f"{url}/search", json={"query": "block the model"}, timeout=120)
        _until(lambda: searcher.embedded, "the blocking query to reach the model")
        queued = [pool.submit(httpx.post, f"{url}/search", json={"query": f"queued {i}"}, timeout=120)
                  for i in range(2)]
        _until(lambda: len(batcher._pending) == 2, "two queries to wait")
        refused = httpx.post(f"{url}/search", json={"query": "one too many"}, timeout=120)
        assert refused.status_code == 503, refused.text
        assert int(refused.headers["Retry-After"]) >= 1
        assert "SEARCH_MAX_QUEUE" in refused.json()["detail"]
        searcher.gate.set()
        assert [f.result().status_code for f in (blocker, *queued)] == [200, 200, 200]
        openapi = httpx.get(f"{url}/openapi.json").json()
        assert "503" in openapi["paths"]["/search"]["post"]["responses"]


def _order(batcher: MicroBatcher, queued: list[int], arrive: dict[int, list[int]] | None = None) -> list[list[int]]:
    """The batches `_take` makes of queries of these token costs (`q0`, `q1`, ...), queued in this order; after
    the n-th batch, the queries of `arrive[n]` (costs) join the queue."""
    loop = asyncio.new_event_loop()
    costs = list(queued)

    def pending(i: int, cost: int) -> _Pending:
        return _Pending(SearchQuery(f"q{i}"), cost, loop.create_future(), arrived=float(i), generation=0)

    try:
        batcher._pending = [pending(i, c) for i, c in enumerate(costs)]
        out: list[list[int]] = []
        while batcher._pending or (arrive and len(out) in arrive):
            for cost in (arrive or {}).pop(len(out), []):
                batcher._pending.append(pending(len(costs), cost))
                costs.append(cost)
            out.append([int(p.query.text[1:]) for p in batcher._take()])
        return out
    finally:
        loop.close()


def test_a_light_query_never_queues_behind_every_heavy_one(tmp_path: Path) -> None:
    batcher = MicroBatcher(searcher=None, max_batch=4, batch_tokens=1000)  # type: ignore[arg-type]
    # five heavy queries queued; after each of the first four batches a light one arrives (q5..q8)
    order = _order(batcher, [800] * 5, arrive={1: [40], 2: [40], 3: [40], 4: [40]})
    # each light one runs next, or after the one heavy batch whose turn it was (q1 before q6, q2 before q8); the
    # heavy ones keep their turns between light batches. Before: every heavy one first (passed over, so first).
    assert order == [[0], [5], [1], [6, 7], [2], [8], [3], [4]], order


def test_a_stream_of_light_queries_does_not_starve_a_heavy_one(tmp_path: Path) -> None:
    batcher = MicroBatcher(searcher=None, max_batch=4, batch_tokens=1000)  # type: ignore[arg-type]
    order = _order(batcher, [800, 40], arrive={1: [40], 2: [40], 3: [40]})
    assert order[:2] == [[1], [0]], order  # the heavy one runs right after the first light batch
