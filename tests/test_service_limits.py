"""Bounded work per request: token budget, body size, API key before the body, /health beside a heavy forward."""

from __future__ import annotations

import concurrent.futures
import socket
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx
import pytest

from search.query.request import SearchQuery
from search.query.searcher import Searcher, SearchResult
from search.service.app import ServiceSettings, create_app
from search.store import Collection, open_collection
from tests.search_helpers import fill, running

KEY = "limits-key"
SECONDS_PER_BYTE = 0.0025  # the slow searcher's "forward": 2 s for a 400-character query


class SlowSearcher(Searcher):
    """A searcher whose model work takes time in proportion to the query bytes, like a forward on a slow CPU."""

    def search_many(self, queries: Sequence[SearchQuery]) -> list[SearchResult]:
        time.sleep(2 * sum(len(q.text.encode()) for q in queries) * SECONDS_PER_BYTE)
        return super().search_many(queries)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, tiny_embedder) -> Iterator[Collection]:
    store = open_collection(path=tmp_path_factory.mktemp("limits") / "qdrant")
    fill(store, tiny_embedder)
    yield store
    store.close()


@pytest.fixture(scope="module")
def url(store: Collection, tiny_embedder) -> Iterator[str]:
    with running(create_app(SlowSearcher(store=store, embedder=tiny_embedder), ServiceSettings())) as base:
        yield base


@pytest.fixture(scope="module")
def keyed_url(store: Collection, tiny_embedder) -> Iterator[str]:
    settings = ServiceSettings(api_key=KEY)
    with running(create_app(Searcher(store=store, embedder=tiny_embedder), settings)) as base:
        yield base


def _raw(url: str, head: bytes, body: bytes, timeout: float = 5.0) -> bytes:
    """Send a request's head and part of its body on a raw socket; return what the server answers meanwhile."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
            piece = sock.recv(65536)
            if not piece:
                break
            answer += piece
        return answer


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_a_query_prompt_over_the_token_budget_gets_422_naming_the_limit(url: str, tiny_embedder) -> None:
    # rare characters: 3 bytes, so 3 tokens, each in the tiny byte-level tokenizer
    for body in ({"query": "q" * 1000}, {"query": "kettle", "instruction": "\u20ac" * 1500}):
        response = httpx.post(f"{url}/search", json=body)
        assert response.status_code == 422, response.text
        assert "1024 tokens" in response.json()["detail"] and "SEARCH_MAX_QUERY_TOKENS" in response.json()["detail"]
    limit = ServiceSettings(max_query_tokens=64).max_query_tokens
    assert tiny_embedder.prompt_tokens("kettle") < 1024 and limit == 64


def test_health_answers_while_a_heavy_forward_runs(url: str) -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        heavy = pool.submit(httpx.post, f"{url}/search", json={"query": "h" * 400 + " health"}, timeout=30)
        time.sleep(0.3)
        t = time.perf_counter()
        health = httpx.get(f"{url}/health", timeout=30)
        waited = time.perf_counter() - t
        assert heavy.result().status_code == 200
    assert health.status_code == 200 and waited < 0.5, f"/health took {waited:.2f} s"


def test_a_light_query_waits_for_at_most_the_heavy_batch_that_is_running(url: str) -> None:
    heavy_s = 2 * 400 * SECONDS_PER_BYTE

    def ask(query: str) -> tuple[float, dict]:
        t = time.perf_counter()
        response = httpx.post(f"{url}/search", json={"query": query, "k": 1}, timeout=60)
        assert response.status_code == 200, response.text
        return time.perf_counter() - t, response.json()

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        first = pool.submit(ask, "a" * 400)
        time.sleep(0.1)
        second = pool.submit(ask, "b" * 400)  # queued behind the first: the light one must not wait for it
        time.sleep(0.1)
        light_s, light = pool.submit(ask, "where is the kettle?").result()
        second.result(), first.result()
    assert light_s < heavy_s + 0.6, f"light query took {light_s:.2f} s; one heavy batch is {heavy_s:.1f} s"
    # queue_ms counts from arrival: all of the light query's time but its own (short) forward is queueing
    assert light_s * 1000 - light["timings"]["queue_ms"] < 500, (light_s, light["timings"])


def test_a_body_over_the_limit_gets_413(url: str) -> None:
    response = httpx.post(f"{url}/search", json={"query": "kettle", "padding": "x" * 1_000_000})
    assert response.status_code == 413
    assert "65536 bytes" in response.json()["detail"]


def test_an_announced_huge_body_is_refused_before_it_is_sent(url: str, keyed_url: str) -> None:
    head = b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 300000000\r\n\r\n"
    assert _raw(url, head, b'{"query": "').startswith(b"HTTP/1.1 413")
    answer = _raw(keyed_url, head, b'{"query": "')  # no key sent
    assert answer.startswith((b"HTTP/1.1 401", b"HTTP/1.1 413"))


def test_a_chunked_body_is_cut_off_at_the_limit(url: str) -> None:
    head = b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunk = b"x" * 16384
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5))  # 80 KB, no final chunk
    assert _raw(url, head, body).startswith(b"HTTP/1.1 413")


def test_the_api_key_is_checked_before_the_body_is_read(keyed_url: str) -> None:
    head = b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 60000\r\n\r\n"
    answer = _raw(keyed_url, head, b'{"query": ')  # most of the body never comes
    assert answer.startswith(b"HTTP/1.1 401") and b"API key" in answer


def test_an_undecodable_body_gets_422(url: str) -> None:
    body = b'{"query": "\xff\xfe"}'  # not UTF-8
    response = httpx.post(f"{url}/search", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"] == "ValidationError"


def test_docs_load_swagger_ui_from_the_service_itself(url: str) -> None:
    page = httpx.get(f"{url}/docs").text
    assert "cdn." not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        path = page.split(asset)[0].rsplit('"', 1)[1] + asset
        assert path.startswith("/") and httpx.get(f"{url}{path}").status_code == 200


def test_the_openapi_document_declares_every_refusal(url: str) -> None:
    schema = httpx.get(f"{url}/openapi.json").json()
    assert {"401", "413", "422", "503"} <= set(schema["paths"]["/search"]["post"]["responses"])
    assert "503" in schema["paths"]["/health"]["get"]["responses"]


def test_service_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEARCH_MAX_QUERY_TOKENS", "300")
    monkeypatch.setenv("SEARCH_MAX_BODY_BYTES", "4096")
    settings = ServiceSettings()
    assert (settings.max_query_tokens, settings.max_body_bytes) == (300, 4096)
