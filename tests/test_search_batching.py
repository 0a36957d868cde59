"""The micro-batcher and its cache, driven directly with the tiny model over a real local Qdrant."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from search.batching import LRUCache, MicroBatcher, Query, _Pending
from search.searcher import Searcher
from search.store import CollectionNotFoundError, QueryFilter, open_collection
from tests.search_helpers import fill


@pytest.fixture
def searcher(tmp_path: Path, tiny_embedder) -> Searcher:
    store = open_collection(path=tmp_path / "qdrant")
    fill(store, tiny_embedder)
    yield Searcher(store=store, embedder=tiny_embedder)
    store.close()


def test_lru_cache_forgets_the_least_recently_used() -> None:
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "b" is now the oldest
    cache.put("c", 3)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)
    assert len(cache) == 2


def test_equal_filters_give_equal_keys() -> None:
    parse = QueryFilter.parse
    assert Query("q", filter=parse(["b", "a"])).cache_key(0) == Query("q", filter=parse(["a", "b", "a"])).cache_key(0)
    assert Query("q", filter=parse("a")).cache_key(0) == Query("q", filter=parse(["a"])).cache_key(0)
    assert Query("q", filter=parse([])).cache_key(0) == Query("q").cache_key(0)
    qfilter = QueryFilter.parse({"must": [{"key": "chunk_index", "match": {"value": 1}}]})
    assert Query("q", filter=qfilter).cache_key(0) != Query("q").cache_key(0)
    assert Query("q").cache_key(1) != Query("q").cache_key(2)
    assert Query("q", tokens=5).cache_key(0) == Query("q", tokens=9).cache_key(0)
    assert Query("q", k=3).group_key() == Query("other", k=7).group_key()
    assert Query("q", mode="echo").group_key() != Query("q").group_key()


async def test_batches_concurrent_queries_and_invalidates_the_cache_on_every_write(
    searcher: Searcher, tiny_embedder
) -> None:
    batcher = MicroBatcher(searcher, max_batch=4, max_wait_ms=50)
    await batcher.start()
    try:
        queries = [Query(f"question {i}", k=2) for i in range(6)]
        answers = await asyncio.gather(*(batcher.search(q) for q in queries))
        assert max(a.batch_size for a in answers) == 4  # concurrent queries share a forward, bounded at 4
        assert all(len(a.result.echo) == 2 and not a.cached for a in answers)
        assert (await batcher.search(queries[0])).cached
        fill(searcher.store, tiny_embedder, {"/docs/new.md": ["A new chunk about kettles."]})
        again = await batcher.search(queries[0])
        assert not again.cached
        assert (await batcher.search(queries[0])).cached
    finally:
        await batcher.stop()


async def test_a_failed_batch_fails_every_request_in_it(tmp_path: Path, tiny_embedder) -> None:
    store = open_collection(path=tmp_path / "qdrant", collection="never-ingested")
    batcher = MicroBatcher(Searcher(store=store, embedder=tiny_embedder), max_wait_ms=50)
    await batcher.start()
    try:
        results = await asyncio.gather(*(batcher.search(Query(f"q{i}")) for i in range(3)), return_exceptions=True)
        assert all(isinstance(r, CollectionNotFoundError) for r in results)
    finally:
        await batcher.stop()
        store.close()


def _batches(batcher: MicroBatcher, costs: list[int]) -> list[list[int]]:
    """The order in which `_take` would run queries of these token costs, queued in this order."""
    loop = asyncio.new_event_loop()
    try:
        batcher._pending = [
            _Pending(Query(f"q{i}", tokens=cost), loop.create_future(), arrived=float(i), generation=0)
            for i, cost in enumerate(costs)
        ]
        out = []
        while batcher._pending:
            out.append([int(p.query.query[1:]) for p in batcher._take()])
        return out
    finally:
        loop.close()


def test_batches_hold_queries_of_similar_cost_within_the_token_budget(searcher: Searcher) -> None:
    batcher = MicroBatcher(searcher, max_batch=3, batch_tokens=1000)
    # two heavy queries queued before two light ones: the light ones go first, together; each heavy one gets
    # a batch of its own (their sum is over the budget); a heavy one is passed over at most once
    assert _batches(batcher, [900, 800, 40, 60]) == [[2, 3], [0], [1]]
    assert _batches(batcher, [50, 60, 70, 80, 300]) == [[0, 1, 2], [3], [4]]
