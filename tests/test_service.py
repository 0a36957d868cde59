"""The HTTP query service through a real uvicorn on loopback, with the tiny model and a real local Qdrant."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path

import httpx
import pytest
from qdrant_client import QdrantClient

from search.query.request import SearchQuery
from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.service.schema import MAX_QUERY_CHARS
from search.store import open_collection
from search.store.server import ServerCollection
from search.validation import InvalidRequestError
from tests.search_helpers import DOCS, fill, free_port, running

KEY = "test-key-123"


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory, tiny_embedder) -> Searcher:
    store = open_collection(path=tmp_path_factory.mktemp("service") / "qdrant")
    fill(store, tiny_embedder)
    yield Searcher(store=store, embedder=tiny_embedder)
    store.close()


@pytest.fixture(scope="module")
def url(searcher: Searcher) -> str:
    with running(create_app(searcher, ServiceSettings(batch_wait_ms=20))) as base:
        yield base


@pytest.fixture(scope="module")
def keyed_url(searcher: Searcher) -> str:
    with running(create_app(searcher, ServiceSettings(api_key=KEY))) as base:
        yield base


def test_search_returns_ranked_hits_for_both_kinds_and_timings(url: str, searcher: Searcher) -> None:
    response = httpx.post(f"{url}/search", json={"query": "how do I descale a kettle?", "k": 3})
    assert response.status_code == 200
    data = response.json()
    expected = searcher.search(SearchQuery("how do I descale a kettle?", k=3))
    for kind in ("echo", "classical"):
        assert [h["rank"] for h in data[kind]] == [1, 2, 3]
        assert [h["id"] for h in data[kind]] == [h.id for h in getattr(expected, kind)]
        assert data[kind][0]["payload"]["text"] == data[kind][0]["text"]
    assert set(data["timings"]) >= {"embed_ms", "search_ms"}
    assert data["timings"]["embed_ms"] > 0


def test_mode_echo_leaves_classical_empty(url: str) -> None:
    data = httpx.post(f"{url}/search", json={"query": "bread dough", "k": 2, "mode": "echo"}).json()
    assert len(data["echo"]) == 2 and data["classical"] == []


def test_filter_by_source_and_by_qdrant_filter(url: str) -> None:
    by_source = httpx.post(f"{url}/search", json={"query": "water", "k": 10, "filter": "/docs/garden.md"}).json()
    assert {h["source"] for h in by_source["echo"] + by_source["classical"]} == {"/docs/garden.md"}
    qfilter = {"must": [{"key": "chunk_index", "match": {"value": 1}}]}
    by_filter = httpx.post(f"{url}/search", json={"query": "water", "k": 10, "filter": qfilter}).json()
    assert len(by_filter["echo"]) == len(DOCS)
    assert {h["chunk_index"] for h in by_filter["echo"]} == {1}


def test_repeated_query_is_answered_from_the_cache(url: str) -> None:
    body = {"query": "a question asked twice about tyres", "k": 2}
    first = httpx.post(f"{url}/search", json=body).json()
    second = httpx.post(f"{url}/search", json=body).json()
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["timings"]["batch_size"] == 0
    assert [h["id"] for h in second["echo"]] == [h["id"] for h in first["echo"]]


def test_concurrent_requests_share_a_forward_and_each_get_their_own_k(url: str, searcher: Searcher) -> None:
    queries = [(f"concurrent question number {i} about chains", 1 + i % 4) for i in range(12)]

    def ask(item: tuple[str, int]) -> dict:
        return httpx.post(f"{url}/search", json={"query": item[0], "k": item[1]}, timeout=30).json()

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(ask, queries))
    assert max(a["timings"]["batch_size"] for a in answers) > 1
    for (query, k), answer in zip(queries, answers, strict=True):
        assert len(answer["echo"]) == len(answer["classical"]) == k
        alone = searcher.search(SearchQuery(query, k=k))
        assert [h["id"] for h in answer["echo"]] == [h.id for h in alone.echo]
        assert answer["echo"][0]["score"] == pytest.approx(alone.echo[0].score, abs=1e-4)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"query": ""}, "query"),
        ({"query": "   "}, "query"),
        ({"query": "x" * (MAX_QUERY_CHARS + 1)}, "query"),
        ({"query": "q", "k": 0}, "k"),
        ({"query": "q", "k": 101}, "k"),
        ({"query": "q", "mode": "sideways"}, "mode"),
        ({"query": "q", "filter": {"must": 3}}, "filter"),
        ({"k": 3}, "query"),
    ],
)
def test_invalid_requests_get_422_with_a_readable_message(url: str, body: dict, field: str) -> None:
    response = httpx.post(f"{url}/search", json=body)
    assert response.status_code == 422
    data = response.json()
    assert isinstance(data["detail"], str) and data["detail"].startswith(f"{field}:")
    assert "Traceback" not in response.text


def test_malformed_json_gets_422(url: str) -> None:
    response = httpx.post(f"{url}/search", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 422
    data = response.json()
    assert set(data) == {"detail", "error"} and data["error"] == "ValidationError"
    assert "JSON decode error" in data["detail"]


def test_only_the_products_own_validation_errors_get_422(
    searcher: Searcher, monkeypatch: pytest.MonkeyPatch
) -> None:
    def raising(error: Exception):  # noqa: ANN202
        def search_many(*args: object, **kwargs: object) -> None:
            raise error

        return search_many

    with running(create_app(searcher)) as base:
        monkeypatch.setattr(searcher, "search_many", raising(ValueError("operands could not be broadcast")))
        bug = httpx.post(f"{base}/search", json={"query": "kettle"})
        assert bug.status_code == 500 and bug.json()["error"] == "InternalError"
        assert "broadcast" not in bug.text  # the details stay in the server log
        monkeypatch.setattr(searcher, "search_many", raising(InvalidRequestError("mode must be 'echo', ...")))
        refused = httpx.post(f"{base}/search", json={"query": "descale"})
        assert refused.status_code == 422 and refused.json() == {
            "detail": "mode must be 'echo', ...", "error": "ValidationError"
        }


def test_health_collection_and_docs(url: str, searcher: Searcher) -> None:
    health = httpx.get(f"{url}/health")
    assert health.status_code == 200
    assert health.json()["status"] == "ok" and health.json()["model_loaded"] and health.json()["store_reachable"]
    info = httpx.get(f"{url}/collection").json()
    assert info["points"] == sum(len(c) for c in DOCS.values())
    assert info["files"] == len(DOCS) and info["sources"] == sorted(DOCS)
    assert info["fingerprint"] == searcher.embedder.fingerprint
    schema = httpx.get(f"{url}/openapi.json").json()
    assert {"/search", "/health", "/collection"} <= set(schema["paths"])
    assert httpx.get(f"{url}/docs").status_code == 200


@pytest.mark.parametrize(
    "headers", [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}]
)
def test_api_key_required_when_configured(keyed_url: str, headers: dict) -> None:
    for method, path, body in (("POST", "/search", {"query": "kettle"}), ("GET", "/collection", None),
                               ("POST", "/ingest/stop", {"run": "any"})):
        response = httpx.request(method, f"{keyed_url}{path}", json=body, headers=headers)
        assert response.status_code == 401
        assert "API key" in response.json()["detail"]


def test_api_key_accepted_in_either_header_and_health_is_open(keyed_url: str) -> None:
    for headers in ({"X-API-Key": KEY}, {"Authorization": f"Bearer {KEY}"}):
        assert httpx.post(f"{keyed_url}/search", json={"query": "kettle"}, headers=headers).status_code == 200
    assert httpx.get(f"{keyed_url}/health").status_code == 200


def test_the_readme_names_every_endpoint_that_answers_without_the_key(keyed_url: str) -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for path in ("/health", "/docs", "/openapi.json"):
        assert httpx.get(f"{keyed_url}{path}").status_code == 200, path
        row = next(line for line in readme.splitlines() if line.startswith("| `GET") and path in line)
        assert "never need" in row, row
    assert httpx.get(f"{keyed_url}/collection").status_code == 401


def test_unreachable_qdrant_gives_503_with_a_readable_message(tiny_embedder) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = ServerCollection(QdrantClient(url=dead, timeout=2), "docs", dead)  # connect() would refuse it
    with running(create_app(Searcher(store=store, embedder=tiny_embedder))) as base:
        response = httpx.post(f"{base}/search", json={"query": "kettle"})
        assert response.status_code == 503
        assert "cannot reach the Qdrant server" in response.json()["detail"]
        assert "Traceback" not in response.text
        assert httpx.get(f"{base}/collection").status_code == 503
        health = httpx.get(f"{base}/health")
        assert health.status_code == 503 and health.json()["store_reachable"] is False


def test_missing_collection_gives_404_saying_to_ingest(tmp_path: Path, tiny_embedder) -> None:
    store = open_collection(path=tmp_path / "qdrant", collection="empty")
    try:
        with running(create_app(Searcher(store=store, embedder=tiny_embedder))) as base:
            response = httpx.post(f"{base}/search", json={"query": "kettle"})
            assert response.status_code == 404
            assert "ingest" in response.json()["detail"]
            assert httpx.get(f"{base}/collection").json()["points"] == 0
    finally:
        store.close()


def test_modes_bm25_hybrid_and_all_and_an_unknown_mode_is_422(url: str, searcher: Searcher) -> None:
    bm25 = httpx.post(f"{url}/search", json={"query": "white vinegar kettle", "k": 2, "mode": "bm25"}).json()
    assert bm25["echo"] == bm25["classical"] == bm25["hybrid"] == []
    assert bm25["bm25"][0]["source"] == "/docs/kitchen.md" and bm25["timings"]["embed_ms"] < 1
    hybrid = httpx.post(f"{url}/search", json={"query": "white vinegar kettle", "k": 3, "mode": "hybrid"}).json()
    expected = searcher.search(SearchQuery("white vinegar kettle", k=3, mode="hybrid"))
    assert [h["id"] for h in hybrid["hybrid"]] == [h.id for h in expected.hybrid] and hybrid["bm25"] == []
    every = httpx.post(f"{url}/search", json={"query": "white vinegar kettle", "k": 3, "mode": "all"}).json()
    assert all(len(every[kind]) == 3 for kind in ("echo", "classical", "hybrid"))
    assert [h["id"] for h in every["bm25"]] == [h["id"] for h in bm25["bm25"]][:1]  # one chunk has these words
    assert [h["id"] for h in every["hybrid"]] == [h["id"] for h in hybrid["hybrid"]]
    bad = httpx.post(f"{url}/search", json={"query": "kettle", "mode": "sparse"})
    assert bad.status_code == 422 and "mode" in bad.json()["detail"]


def test_bm25_answers_without_a_model_and_hybrid_needs_one(tmp_path: Path, tiny_embedder) -> None:
    with open_collection(path=tmp_path / "qdrant") as store:
        fill(store, tiny_embedder)
        modelless = Searcher(store=store, embedder=None)
        assert modelless.search(SearchQuery("compost leaves", k=1, mode="bm25")).bm25[0].source == "/docs/garden.md"
        with pytest.raises(InvalidRequestError, match="without a model"):
            modelless.search(SearchQuery("compost leaves", k=1, mode="hybrid"))
