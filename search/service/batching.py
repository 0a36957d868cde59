"""Micro-batching of concurrent searches into one model forward, with an LRU cache of answered queries."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from search.query.request import SearchQuery
from search.query.searcher import Searcher, SearchResult
from search.service.admission import Admission
from search.settings import ServiceSettings

T = TypeVar("T")
_SERVICE = ServiceSettings.model_fields  # the defaults below are the service's (`search.settings`)


@dataclass
class Answer:
    """A search result plus how the service produced it."""

    result: SearchResult
    cached: bool = False
    batch_size: int = 1
    queue_ms: float = 0.0


class LRUCache:
    """A bounded mapping that forgets the least recently used entry first."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable) -> Any | None:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: Hashable, value: Any) -> None:
        if self.size <= 0:
            return
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class BatchObserver(Protocol):
    """What the service's metrics (`search.service.metrics`) learn from the batcher."""

    def cache_hit(self) -> None:
        """A query was answered from the cache."""

    def batch(self, mode: str, results: list[SearchResult], queued: list[float]) -> None:
        """One `search_many` call answered `results` (its timings per query); `queued`: each query's seconds from
        its arrival to the call's start."""


@dataclass
class _Pending:
    query: SearchQuery
    tokens: int
    """Tokens of its prompt: what the model computes for it (the batch budget counts these)."""
    future: asyncio.Future[Answer]
    arrived: float
    generation: int
    passed_over: bool = False


@dataclass
class MicroBatcher:
    """Collects concurrent queries for up to `max_wait_ms`, then embeds up to `max_batch` of them in one forward.

    A lone query after a lone query goes straight to the model (a single client never waits); when requests
    come together, or the previous batch held several, the worker waits up to `max_wait_ms` for the rest, so
    that clients answered by the last batch get into the next one instead of trailing behind it.

    A batch holds queries of similar cost (prompt tokens within a factor of 2) and at most `batch_tokens` tokens.
    The next batch starts from the cheapest query waiting, except after a light batch (one not heavier than twice
    the cheapest query waiting), when the query passed over longest gets its turn. So a light query waits for at
    most one heavy batch (the one running when it arrives, or the turn of a heavier one that waited longer, never
    both), never for all the heavy ones queued before it; and a heavy query is never starved by a stream of light
    ones: it gets every other batch, in the order the passed-over ones arrived.

    Each query joins the queue through `admission` (`search.service.admission`: at most `max_queue` wait; one more
    gets `QueueFullError`, HTTP 503 with Retry-After). A query whose
    caller went away (its future cancelled: the service cancels it when the client disconnects) is dropped before
    its forward and counted in `dropped`.

    All model and store work of searches runs on one worker thread, so the (not thread-safe) embedded store and
    the model are never used concurrently; `run` lets other endpoints use that same thread, `call` other threads
    (an ingest in the service, `ingest.service`). Every search reads
    the collection's write generation first (off that thread) and caches its answer under it, so no answer
    from before a write is ever served, whichever process wrote.
    """

    searcher: Searcher
    max_batch: int = _SERVICE["max_batch"].default
    max_wait_ms: float = _SERVICE["batch_wait_ms"].default
    cache_size: int = _SERVICE["cache_size"].default
    batch_tokens: int = _SERVICE["batch_tokens"].default
    admission: Admission = field(default_factory=Admission)
    """The service's one gate; the queries waiting here count against its queue bound (and the other requests')."""
    observer: BatchObserver | None = None
    cache: LRUCache = field(init=False)
    """Answers keyed by (collection generation, `SearchQuery`): equal queries against the same contents."""
    dropped: int = field(init=False, default=0)
    """Queries dropped before their forward because their caller went away."""
    _last_tokens: int = field(init=False, default=0)  # the heaviest query of the last batch
    _pending: list[_Pending] = field(init=False, default_factory=list)
    _arrived: asyncio.Event = field(init=False)
    _executor: ThreadPoolExecutor = field(init=False)
    _worker: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.cache = LRUCache(self.cache_size)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-worker")
        self.admission.counts(lambda: self.waiting)

    async def start(self) -> None:
        """Start the batching worker (call from the running event loop)."""
        self._arrived = asyncio.Event()
        self._worker = asyncio.create_task(self._work(), name="search-batcher")

    async def stop(self) -> None:
        """Stop the worker; queued requests are cancelled."""
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)
            self._worker = None
        for pending in self._pending:
            pending.future.cancel()
        self._pending.clear()
        self._executor.shutdown(wait=True)

    @property
    def waiting(self) -> int:
        """Queries waiting for the model (their callers still there)."""
        return sum(not p.future.done() for p in self._pending)

    async def run(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the worker thread (for store calls outside of searches)."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def call(self, fn: Callable[[], T]) -> T:
        """Run `fn` on the worker thread and wait for it, from a thread other than the event loop's (the service's
        ingest): it takes its turn between search batches."""
        return self._executor.submit(fn).result()

    async def search(self, query: SearchQuery, tokens: int = 0, arrived: float | None = None) -> Answer:
        """Answer one query: from the cache when the collection has not changed since, else batched with whatever
        else arrives within the wait window. `tokens`: its prompt's (see the class docstring). `arrived` (a
        `time.perf_counter()` value, default now) is when the request came in: `queue_ms` counts from there."""
        arrived = time.perf_counter() if arrived is None else arrived
        generation = await asyncio.to_thread(self.searcher.generation)
        hit = self.cache.get((generation, query))
        if hit is not None:
            if self.observer is not None:
                self.observer.cache_hit()
            return Answer(hit, cached=True, batch_size=0, queue_ms=(time.perf_counter() - arrived) * 1000)
        self.admission.admit_search()
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(query, tokens, future, arrived, generation))
        self._arrived.set()
        return await future

    async def _work(self) -> None:
        previous = 0
        while True:
            while not self._pending:
                self._arrived.clear()
                await self._arrived.wait()
            if previous > 1 or len(self._pending) > 1:  # under load: gather the requests that are on their way
                deadline = time.perf_counter() + self.max_wait_ms / 1000
                while len(self._pending) < self.max_batch and (remaining := deadline - time.perf_counter()) > 0:
                    self._arrived.clear()
                    try:
                        await asyncio.wait_for(self._arrived.wait(), remaining)
                    except asyncio.TimeoutError:
                        break
            batch = self._take()
            previous = len(batch)
            groups: dict[Hashable, list[_Pending]] = {}
            for pending in batch:
                groups.setdefault(pending.query.group_key(), []).append(pending)
            for group in groups.values():
                await self._answer(group)

    def _take(self) -> list[_Pending]:
        """Remove and return the next batch (see the class docstring); the rest stay queued, marked passed over."""
        live = [p for p in self._pending if not p.future.done()]  # a client that went away cancelled its future
        self.dropped += len(self._pending) - len(live)
        if not live:
            self._pending.clear()
            return []
        cheapest = min(p.tokens for p in live)
        passed = [p for p in live if p.passed_over]
        if passed and self._last_tokens <= 2 * max(cheapest, 1):  # after a light batch: the longest-waiting one
            first = min(passed, key=lambda p: p.arrived)
            order = [first, *sorted((p for p in live if p is not first), key=lambda p: (p.tokens, p.arrived))]
        else:  # cheapest first
            order = sorted(live, key=lambda p: (p.tokens, p.arrived))
            first = order[0]
        batch, tokens = [first], first.tokens
        for p in order[1:]:
            if len(batch) == self.max_batch:
                break
            similar = p.tokens <= 2 * max(first.tokens, 1) and first.tokens <= 2 * p.tokens
            if similar and tokens + p.tokens <= self.batch_tokens:
                batch.append(p)
                tokens += p.tokens
        taken = {id(p) for p in batch}
        self._pending = [p for p in live if id(p) not in taken]
        for p in self._pending:
            p.passed_over = True
        self._last_tokens = max(p.tokens for p in batch)
        return batch

    async def _answer(self, group: list[_Pending]) -> None:
        live = [p for p in group if not p.future.done()]  # callers that went away while an earlier group ran
        self.dropped += len(group) - len(live)
        if not live:
            return
        group = live
        queries = [p.query for p in group]

        def search() -> tuple[float, list[SearchResult]]:  # the start on the worker thread: waits behind other work
            return time.perf_counter(), self.searcher.search_many(queries)  # on it (embeddings, ingest) count

        try:
            started, results = await self.run(search)
        except Exception as exc:  # delivered to each waiting request, which maps it to an HTTP status
            for p in group:
                if not p.future.done():
                    p.future.set_exception(exc)
            return
        self.admission.forward_seconds = time.perf_counter() - started
        if self.observer is not None:
            self.observer.batch(group[0].query.mode, results, [started - p.arrived for p in group])
        for p, result in zip(group, results, strict=True):
            self.cache.put((p.generation, p.query), result)
            if not p.future.done():
                p.future.set_result(Answer(result, batch_size=len(group), queue_ms=(started - p.arrived) * 1000))
