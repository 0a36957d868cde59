"""The `rerank` ranking through the searcher, and `POST /rerank` over HTTP (FastAPI's TestClient), tiny model."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fastapi.testclient import TestClient

from search.query.request import SearchQuery
from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.settings import RerankSettings
from search.store import open_collection
from search.validation import InvalidRequestError
from tests.search_helpers import fill

KEY = "rerank-key"
QUESTION = "how do I descale a kettle?"


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory, tied_embedder) -> Searcher:
    store = open_collection(path=tmp_path_factory.mktemp("rerank") / "qdrant")
    fill(store, tied_embedder)
    yield Searcher(store=store, embedder=tied_embedder, rerank=RerankSettings(depth=4, passage_tokens=64))
    store.close()


@pytest.fixture(scope="module")
def client(searcher: Searcher) -> TestClient:
    with TestClient(create_app(searcher, ServiceSettings(api_key=KEY))) as test_client:
        yield test_client


def test_rerank_reorders_the_first_stages_top_hits_by_the_models_scores(searcher: Searcher) -> None:
    result = searcher.search(SearchQuery(QUESTION, k=6, mode="rerank"))
    first = searcher.search(SearchQuery(QUESTION, k=6, mode="hybrid")).hybrid
    assert [h.id for h in result.hybrid] == [h.id for h in first]  # the first stage comes along
    top = first[:4]
    scores = searcher.model.rerank(QUESTION, [h.text for h in top], passage_tokens=64).scores
    expected = [top[i].id for i in np.argsort(-scores, kind="stable")] + [h.id for h in first[4:]]
    assert [h.id for h in result.rerank] == expected
    assert [h.rank for h in result.rerank] == list(range(1, 7))
    np.testing.assert_allclose([h.score for h in result.rerank[:4]], np.sort(scores)[::-1])
    assert [h.score for h in result.rerank[4:]] == [h.score for h in first[4:]]
    assert result.timings["rerank_ms"] > 0 and result.echo == [] and result.bm25 == []


def test_rerank_k_below_depth_and_the_other_first_stages(searcher: Searcher) -> None:
    assert len(searcher.search(SearchQuery(QUESTION, k=2, mode="rerank")).rerank) == 2
    searcher.rerank = RerankSettings(depth=3, first_stage="bm25", passage_tokens=64)
    try:
        result = searcher.search(SearchQuery(QUESTION, k=3, mode="rerank"))
        assert {h.id for h in result.rerank} == {h.id for h in result.bm25}
    finally:
        searcher.rerank = RerankSettings(depth=4, passage_tokens=64)


def test_post_rerank_in_cohere_shape(client: TestClient, searcher: Searcher) -> None:
    docs = ["Descale the kettle with vinegar.", "Tomatoes need sun.", "Bread needs time to rise."]
    response = client.post("/rerank", headers={"X-API-Key": KEY},
                           json={"query": QUESTION, "documents": [docs[0], {"text": docs[1]}, docs[2]],
                                 "top_n": 2, "return_documents": True})
    assert response.status_code == 200, response.text
    data = response.json()
    raw = searcher.model.rerank(QUESTION, docs, passage_tokens=64).scores
    best = list(np.argsort(-raw, kind="stable")[:2])
    assert [r["index"] for r in data["results"]] == best
    assert [r["document"]["text"] for r in data["results"]] == [docs[i] for i in best]
    assert [r["relevance_score"] for r in data["results"]] == pytest.approx([math.exp(raw[i]) for i in best])
    assert data["meta"]["tokens"] > 0 and data["id"]


def test_post_rerank_in_tei_shape_with_raw_scores(client: TestClient, searcher: Searcher) -> None:
    texts = ["Tomatoes need sun.", "Descale the kettle with vinegar."]
    data = client.post("/rerank", headers={"Authorization": f"Bearer {KEY}"},
                       json={"query": QUESTION, "texts": texts, "raw_scores": True, "return_text": True}).json()
    raw = searcher.model.rerank(QUESTION, texts, passage_tokens=64).scores
    assert sorted(r["index"] for r in data) == [0, 1]
    assert [r["score"] for r in data] == pytest.approx(sorted(raw, reverse=True))
    assert all(r["text"] == texts[r["index"]] for r in data)
    plain = client.post("/rerank", headers={"X-API-Key": KEY}, json={"query": QUESTION, "texts": texts}).json()
    assert all("text" not in r and 0 < r["score"] <= 1 for r in plain)


@pytest.mark.parametrize(("body", "words"), [
    ({"query": QUESTION}, "not both"),
    ({"query": QUESTION, "texts": ["a"], "documents": ["b"]}, "not both"),
    ({"query": QUESTION, "texts": []}, "1 to 1000"),
    ({"query": " ", "texts": ["a"]}, "blank"),
    ({"query": QUESTION, "documents": ["fine", "  "]}, "documents[1] is blank"),
    ({"query": QUESTION, "texts": ["a"], "top_n": 0}, "top_n"),
])
def test_post_rerank_refusals_in_the_services_error_shape(client: TestClient, body: dict, words: str) -> None:
    response = client.post("/rerank", headers={"X-API-Key": KEY}, json=body)
    assert response.status_code == 422
    assert words in response.json()["detail"] and response.json()["error"]


def test_post_rerank_needs_the_key(client: TestClient) -> None:
    response = client.post("/rerank", json={"query": QUESTION, "texts": ["a"]})
    assert response.status_code == 401 and response.json()["error"]


def test_post_rerank_with_a_full_queue_is_503(searcher: Searcher) -> None:
    with TestClient(create_app(searcher, ServiceSettings(max_queue=1))) as test_client:
        test_client.app.state.batcher.admission.max_queue = 0  # every request finds the queue full
        response = test_client.post("/rerank", json={"query": QUESTION, "texts": ["a"]})
    assert response.status_code == 503 and response.headers["Retry-After"]


def test_health_says_whether_the_model_can_rerank(client: TestClient) -> None:
    assert client.get("/health").json()["rankings"] == ["echo", "classical", "bm25", "hybrid", "rerank"]


@pytest.mark.slow
def test_post_rerank_with_the_packaged_model_puts_the_answer_first(tmp_path, real_embedder) -> None:
    store = open_collection(path=tmp_path / "qdrant")  # /rerank reads no collection
    passages = [
        "To rotate the logs, logrotate runs daily from cron and keeps four weekly archives of each log file.",
        "Sourdough bread needs a starter, flour, water and salt, and a long slow rise in a cool place.",
        "The office coffee machine is descaled every month by the facilities team.",
    ]
    try:
        with TestClient(create_app(Searcher(store=store, embedder=real_embedder))) as test_client:
            data = test_client.post("/rerank", json={"query": "how are log files rotated?", "documents": passages,
                                                      "raw_scores": True}).json()
    finally:
        store.close()
    assert data["results"][0]["index"] == 0
    assert all(-20 < r["relevance_score"] < 0 for r in data["results"])


def test_a_model_that_cannot_rerank_is_refused_as_a_bad_request(tmp_path, tiny_embedder) -> None:
    store = open_collection(path=tmp_path / "qdrant")
    fill(store, tiny_embedder)  # the tiny Llama's head is its own matrix, which the embedder does not load
    try:
        searcher = Searcher(store=store, embedder=tiny_embedder)
        with pytest.raises(InvalidRequestError, match="cannot rerank"):
            searcher.search(SearchQuery(QUESTION, mode="rerank"))
        with TestClient(create_app(searcher)) as test_client:
            response = test_client.post("/rerank", json={"query": QUESTION, "texts": ["a"]})
            rankings = test_client.get("/health").json()["rankings"]
        assert response.status_code == 422 and "cannot rerank" in response.json()["detail"]
        assert rankings == ["echo", "classical", "bm25", "hybrid"]
        assert Searcher(store=store, embedder=None).rankings() == ("bm25",)
    finally:
        store.close()
