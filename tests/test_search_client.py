"""`HttpSearcher` against a real uvicorn: the same results and errors as the in-process `Searcher`."""

from __future__ import annotations

import pytest

from search.query.remote import HttpSearcher, SearchServiceError
from search.query.request import SearchQuery
from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.service.schema import MAX_QUERY_CHARS
from search.store import StoreUnavailableError, open_collection, point_id
from search.validation import InvalidRequestError
from tests.search_helpers import DOCS, fill, free_port, running


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory, tiny_embedder) -> Searcher:

    store = open_collection(path=tmp_path_factory.mktemp("client") / "qdrant")
    fill(store, tiny_embedder)
    yield Searcher(store=store, embedder=tiny_embedder)
    store.close()


@pytest.fixture(scope="module")
def url(searcher: Searcher) -> str:
    with running(create_app(searcher, ServiceSettings(api_key="k3y"))) as base:
        yield base


def test_search_matches_the_in_process_searcher(url: str, searcher: Searcher) -> None:
    with HttpSearcher(url, api_key="k3y") as remote:
        for mode in ("both", "echo", "classical", "bm25", "hybrid", "all"):
            query = SearchQuery("how do I oil a bike chain?", k=4, mode=mode,
                                filter=["/docs/cycling.md", "/docs/garden.md"])
            got, want = remote.search(query), searcher.search(query)
            assert [(h.rank, h.id, h.source, h.chunk_index, h.text) for h in got.echo] == [
                (h.rank, h.id, h.source, h.chunk_index, h.text) for h in want.echo]
            assert [h.id for h in got.classical] == [h.id for h in want.classical]
            assert [h.id for h in got.bm25] == [h.id for h in want.bm25]
            assert [(h.id, h.score) for h in got.hybrid] == [(h.id, h.score) for h in want.hybrid]
            assert set(got.timings) == {"embed_ms", "search_ms", "queue_ms", "total_ms", "batch_size", "rerank_ms"}
            assert 0 < got.timings["search_ms"] <= got.timings["total_ms"]  # the service's own split, passed on
        queries = [SearchQuery("kettle", k=1), SearchQuery("compost", k=1)]
        assert [r.echo[0].id for r in remote.search_many(queries)] == [
            r.echo[0].id for r in searcher.search_many(queries)]


def test_info_and_sources(url: str, searcher: Searcher) -> None:
    with HttpSearcher(url, api_key="k3y") as remote:
        info = remote.info()
        assert info == searcher.info()
        assert remote.sources() == sorted(DOCS)
        assert remote.health()["status"] == "ok"
        first = DOCS["/docs/garden.md"][0]
        hit = remote.search(SearchQuery(first, k=6)).echo
        assert any(h.id == point_id("/docs/garden.md", 0, h.payload["content_hash"]) for h in hit)


def test_a_source_reads_back_as_the_in_process_searcher_reads_it(url: str, searcher: Searcher) -> None:
    with HttpSearcher(url, api_key="k3y") as remote:
        whole = remote.chunks("/docs/kitchen.md")
        assert whole == searcher.chunks("/docs/kitchen.md") and [r.text for r in whole] == DOCS["/docs/kitchen.md"]
        assert remote.chunks("/docs/kitchen.md", 1, 1) == whole[1:]
        assert remote.chunks("/docs/kitchen.md", 2) == [] and remote.chunks("/docs/nowhere.md") == []


def test_errors_map_to_the_searcher_exceptions(url: str) -> None:
    too_long = SearchQuery("q" * (MAX_QUERY_CHARS + 1))  # valid for the Python API, not for the service
    with HttpSearcher(url, api_key="k3y") as remote, pytest.raises(InvalidRequestError, match="query:"):
        remote.search(too_long)
    with HttpSearcher(url, api_key="wrong") as remote, pytest.raises(SearchServiceError, match="API key"):
        remote.search(SearchQuery("q"))
    with HttpSearcher(f"http://127.0.0.1:{free_port()}") as remote, pytest.raises(
        StoreUnavailableError, match="search serve"
    ):
        remote.search(SearchQuery("q"))
