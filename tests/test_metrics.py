"""`GET /metrics`, scraped from a real uvicorn over the tiny model and parsed with Prometheus' own text parser."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from qdrant_client import QdrantClient

from embedder import Embedder
from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.store import Collection, open_collection
from search.store.server import ServerCollection
from tests.search_helpers import DOCS, fill, free_port, running

KEY = "metrics-key"
POINTS = sum(len(chunks) for chunks in DOCS.values())


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, tiny_embedder: Embedder) -> Iterator[Collection]:
    store = open_collection(path=tmp_path_factory.mktemp("metrics") / "qdrant")
    fill(store, tiny_embedder)
    yield store
    store.close()


def scrape(url: str, **headers: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of `GET /metrics`: {(name, sorted labels): value}."""
    response = httpx.get(f"{url}/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_the_counters_and_histograms_move_with_the_requests(store: Collection, tiny_embedder: Embedder) -> None:
    settings = ServiceSettings(api_key=KEY)
    auth = {"Authorization": f"Bearer {KEY}"}
    with running(create_app(Searcher(store=store, embedder=tiny_embedder), settings)) as url:
        assert httpx.get(f"{url}/metrics").status_code == 401  # behind the key by default
        before = scrape(url, **auth)
        assert value(before, "echo_search_collection_points") == POINTS
        assert value(before, "echo_search_model_load_seconds") == tiny_embedder.load_seconds > 0
        for _ in range(2):  # the second is answered from the cache
            assert httpx.post(f"{url}/search", json={"query": "kettle"}, headers=auth).status_code == 200
        assert httpx.post(f"{url}/search", json={"query": "kettle", "mode": "bm25"}, headers=auth).status_code == 200
        assert httpx.post(f"{url}/search", json={"query": ""}, headers=auth).status_code == 422
        assert httpx.post(f"{url}/search", json={"query": "kettle"}).status_code == 401
        assert httpx.get(f"{url}/no/such/page", headers=auth).status_code == 404
        embedded = httpx.post(f"{url}/v1/embeddings", headers=auth, json={
            "model": f"{tiny_embedder.model_name}/echo-document", "input": ["compost", "bread dough", "tyres"]})
        assert embedded.status_code == 200
        after = scrape(url, **auth)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("echo_search_requests_total", route="/search", status="200") == 3
    assert moved("echo_search_requests_total", route="/search", status="422") == 1
    assert moved("echo_search_requests_total", route="/search", status="401") == 1
    assert moved("echo_search_requests_total", route="other", status="404") == 1
    assert moved("echo_search_requests_total", route="/v1/embeddings", status="200") == 1
    assert moved("echo_search_requests_total", route="/metrics", status="200") == 1  # the first scrape
    assert moved("echo_search_request_seconds_count", route="/search") == 5
    assert moved("echo_search_cache_hits_total") == 1
    assert moved("echo_search_queue_seconds_count", endpoint="search") == 2  # a model query and a bm25 one
    assert moved("echo_search_embed_seconds_count", endpoint="search") == 1  # bm25 runs no model
    assert moved("echo_search_search_seconds_count") == 2
    assert moved("echo_search_batch_size_count", endpoint="search") == 2
    assert moved("echo_search_queue_seconds_count", endpoint="embeddings") == 1
    assert moved("echo_search_embed_seconds_count", endpoint="embeddings") == 1
    assert moved("echo_search_batch_size_sum", endpoint="embeddings") == 3
    assert moved("echo_search_embed_seconds_sum", endpoint="embeddings") > 0
    search_tokens = tiny_embedder.encode(["kettle"], kind="query").tokens
    usage = embedded.json()["usage"]["prompt_tokens"]
    assert moved("echo_search_model_tokens_total") == search_tokens + usage
    assert value(after, "echo_search_collection_points") == POINTS
    assert value(after, "process_resident_memory_bytes") > 0


def test_metrics_can_be_public_and_every_app_has_its_own_registry(store: Collection, tiny_embedder: Embedder) -> None:
    public = ServiceSettings(api_key=KEY, metrics_public=True)
    searcher = Searcher(store=store, embedder=tiny_embedder)
    with running(create_app(searcher, public)) as first, running(create_app(searcher, public)) as second:
        assert httpx.get(f"{first}/collection").status_code == 401  # the rest still needs the key
        assert httpx.get(f"{first}/collection", headers={"X-API-Key": KEY}).status_code == 200
        assert value(scrape(first), "echo_search_requests_total", route="/collection", status="200") == 1
        assert value(scrape(second), "echo_search_requests_total", route="/collection", status="200") == 0


def test_a_store_that_cannot_be_reached_still_gets_its_metrics_scraped(tiny_embedder: Embedder) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = ServerCollection(QdrantClient(url=dead, timeout=2), "docs", dead)
    with running(create_app(Searcher(store=store, embedder=tiny_embedder))) as url:
        samples = scrape(url)
    assert value(samples, "echo_search_model_load_seconds") > 0
    assert ("echo_search_collection_points", ()) in samples  # never counted: 0


def test_docs_deployment_lists_every_metric_and_a_valid_scrape_config(store: Collection,
                                                                      tiny_embedder: Embedder) -> None:
    doc = (Path(__file__).resolve().parents[1] / "docs" / "deployment.md").read_text().split("## Monitoring")[1]
    documented = set(re.findall(r"^\| `(echo_search_\w+)` \|", doc, flags=re.M))
    with running(create_app(Searcher(store=store, embedder=tiny_embedder))) as url:
        families = text_string_to_metric_families(httpx.get(f"{url}/metrics").text)
        served = {f.name + ("_total" if f.type == "counter" else "") for f in families
                  if f.name.startswith("echo_search_") and not f.name.endswith("_created")}  # the client's own
    assert documented == served
    config = yaml.safe_load(re.search(r"^```yaml\n(.*?)^```", doc, flags=re.S | re.M)[1])
    assert config["scrape_configs"][0]["authorization"]["type"] == "Bearer"
