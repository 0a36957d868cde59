"""The micro-batcher and its cache, driven directly with the tiny model over a real local Qdrant."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from search.query.request import SearchQuery
from search.query.searcher import Searcher
from search.service.batching import LRUCache, MicroBatcher, _Pending
from search.store import CollectionNotFoundError, FilterError, open_collection
from search.validation import InvalidRequestError
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


def test_equal_queries_are_equal_and_share_a_group_when_only_text_or_k_differ() -> None:
    assert SearchQuery("q", filter=["b", "a"]) == SearchQuery("q", filter=["a", "b", "a"])
    assert hash(SearchQuery("q", filter="a")) == hash(SearchQuery("q", filter=["a"]))
    assert SearchQuery("q", filter=[]) == SearchQuery("q") == SearchQuery("q", instruction="")
    qfilter = {"must": [{"key": "chunk_index", "match": {"value": 1}}]}
    assert SearchQuery("q", filter=qfilter) != SearchQuery("q")
    parsed = SearchQuery("q", filter=qfilter)
    assert SearchQuery("q", filter=parsed.filter) == parsed  # a parsed filter is taken as it is
    assert SearchQuery("q", k=3).group_key() == SearchQuery("other", k=7).group_key()
    assert SearchQuery("q", k=3, mode="hybrid").group_key() != SearchQuery("q", k=7, mode="hybrid").group_key()
    assert SearchQuery("q", mode="echo").group_key() != SearchQuery("q").group_key()


@pytest.mark.parametrize(("args", "error", "message"), [
    ({"k": 0}, InvalidRequestError, "k must be between 1 and 100, got 0"),
    ({"mode": "sideways"}, InvalidRequestError, "mode must be one of"),
    ({"text": "a \ud800"}, InvalidRequestError, "query: not valid Unicode"),
    ({"instruction": "x {text}"}, InvalidRequestError, "instruction: must not contain the template slot {text}"),
    ({"filter": {"must": 3}}, FilterError, "not a valid Qdrant filter"),
])
def test_a_query_is_validated_when_it_is_made(args: dict, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=re.escape(message)):
        SearchQuery(**{"text": "q", **args})


def test_search_many_wants_one_group_and_cuts_each_result_to_its_k(searcher: Searcher) -> None:
    results = searcher.search_many([SearchQuery("kettle", k=1), SearchQuery("compost", k=3)])
    assert [len(r.echo) for r in results] == [1, 3]
    assert [h.id for h in results[1].echo] == [h.id for h in searcher.search(SearchQuery("compost", k=3)).echo]
    with pytest.raises(ValueError, match="group_key"):
        searcher.search_many([SearchQuery("kettle"), SearchQuery("compost", mode="echo")])
    assert searcher.search_many([]) == []


async def test_batches_concurrent_queries_and_invalidates_the_cache_on_every_write(
    searcher: Searcher, tiny_embedder
) -> None:
    batcher = MicroBatcher(searcher, max_batch=4, max_wait_ms=50)
    await batcher.start()
    try:
        queries = [SearchQuery(f"question {i}", k=2) for i in range(6)]
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
        asks = (batcher.search(SearchQuery(f"q{i}")) for i in range(3))
        results = await asyncio.gather(*asks, return_exceptions=True)
        assert all(isinstance(r, CollectionNotFoundError) for r in results)
    finally:
        await batcher.stop()
        store.close()


def _batches(batcher: MicroBatcher, costs: list[int]) -> list[list[int]]:
    """The order in which `_take` would run queries of these token costs, queued in this order."""
    loop = asyncio.new_event_loop()
    try:
        batcher._pending = [
            _Pending(SearchQuery(f"q{i}"), cost, loop.create_future(), arrived=float(i), generation=0)
            for i, cost in enumerate(costs)
        ]
        out = []
        while batcher._pending:
            out.append([int(p.query.text[1:]) for p in batcher._take()])
        return out
    finally:
        loop.close()


def test_batches_hold_queries_of_similar_cost_within_the_token_budget(searcher: Searcher) -> None:
    batcher = MicroBatcher(searcher, max_batch=3, batch_tokens=1000)
    # two heavy queries queued before two light ones: the light ones go first, together; each heavy one gets
    # a batch of its own (their sum is over the budget); a heavy one is passed over at most once
    assert _batches(batcher, [900, 800, 40, 60]) == [[2, 3], [0], [1]]
    assert _batches(batcher, [50, 60, 70, 80, 300]) == [[0, 1, 2], [3], [4]]
