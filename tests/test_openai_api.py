"""`POST /v1/embeddings` and `GET /v1/models` through the real `openai` client and LangChain's `OpenAIEmbeddings`,
against a real uvicorn on loopback with the tiny model: the vectors and token counts are `Embedder.encode`'s."""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from langchain_openai import OpenAIEmbeddings

from embedder import Embedder
from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.store import Collection, open_collection
from tests.search_helpers import fill, running

KEY = "test-key-openai"
TEXTS = ["How do I descale a kettle?", "Tomatoes need six hours of sun.", "A squeaky chain needs oil on each link."]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, tiny_embedder: Embedder) -> Iterator[Collection]:
    store = open_collection(path=tmp_path_factory.mktemp("openai") / "qdrant")
    fill(store, tiny_embedder)
    yield store
    store.close()


@pytest.fixture(scope="module")
def url(store: Collection, tiny_embedder: Embedder) -> Iterator[str]:
    with running(create_app(Searcher(store=store, embedder=tiny_embedder))) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)


def model(embedder: Embedder, suffix: str) -> str:
    return f"{embedder.model_name}/{suffix}"


def expected(embedder: Embedder, suffix: str, texts: list[str]) -> tuple[np.ndarray, int]:
    """What `Embedder.encode` computes for the model name `suffix`: the vectors and the tokens."""
    kind = "query" if suffix == "echo-query" else "document"
    out = embedder.encode(texts, kind=kind, with_classical=suffix == "classical")
    vectors = out.classical if suffix == "classical" else out.echo
    assert vectors is not None
    return vectors, out.tokens


def test_models_lists_the_three_names(client: openai.OpenAI, tiny_embedder: Embedder) -> None:
    names = [m.id for m in client.models.list()]
    assert names == [model(tiny_embedder, s) for s in ("echo-query", "echo-document", "classical")]


@pytest.mark.parametrize("suffix", ["echo-query", "echo-document", "classical"])
def test_vectors_and_usage_are_what_encode_computes(client: openai.OpenAI, tiny_embedder: Embedder,
                                                    suffix: str) -> None:
    vectors, tokens = expected(tiny_embedder, suffix, TEXTS)
    answer = client.embeddings.create(model=model(tiny_embedder, suffix), input=TEXTS, encoding_format="float")
    assert [d.index for d in answer.data] == [0, 1, 2] and answer.model == model(tiny_embedder, suffix)
    np.testing.assert_allclose(np.array([d.embedding for d in answer.data]), vectors, rtol=0, atol=1e-6)
    assert answer.usage.prompt_tokens == answer.usage.total_tokens == tokens


def test_base64_is_the_same_float32_vector(client: openai.OpenAI, tiny_embedder: Embedder) -> None:
    vectors, _ = expected(tiny_embedder, "echo-document", TEXTS[:2])
    name = model(tiny_embedder, "echo-document")
    raw = client.embeddings.create(model=name, input=TEXTS[:2], encoding_format="base64")
    decoded = np.array([np.frombuffer(base64.b64decode(d.embedding), dtype="<f4") for d in raw.data])
    np.testing.assert_array_equal(decoded, vectors)
    default = client.embeddings.create(model=name, input=TEXTS[:2])  # the SDK asks for base64 and decodes it
    np.testing.assert_array_equal(np.array([d.embedding for d in default.data], dtype=np.float32), vectors)


def test_a_single_string_is_one_text(client: openai.OpenAI, tiny_embedder: Embedder) -> None:
    vectors, tokens = expected(tiny_embedder, "echo-query", [TEXTS[0]])
    answer = client.embeddings.create(model=model(tiny_embedder, "echo-query"), input=TEXTS[0],
                                      encoding_format="float")
    assert len(answer.data) == 1 and answer.usage.prompt_tokens == tokens
    np.testing.assert_allclose(answer.data[0].embedding, vectors[0], rtol=0, atol=1e-6)


def test_langchain_openai_embeddings_give_the_document_and_query_vectors(url: str, tiny_embedder: Embedder) -> None:
    def langchain(suffix: str) -> OpenAIEmbeddings:
        return OpenAIEmbeddings(model=model(tiny_embedder, suffix), base_url=f"{url}/v1", api_key="unused",
                                check_embedding_ctx_length=False, max_retries=0)

    documents, _ = expected(tiny_embedder, "echo-document", TEXTS)
    np.testing.assert_allclose(langchain("echo-document").embed_documents(TEXTS), documents, rtol=0, atol=1e-6)
    query, _ = expected(tiny_embedder, "echo-query", ["where is the kettle?"])
    np.testing.assert_allclose(langchain("echo-query").embed_query("where is the kettle?"), query[0], rtol=0,
                               atol=1e-6)


def _error(exc: openai.APIStatusError) -> dict:
    body = exc.response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    return body["error"]


@pytest.mark.parametrize("tokens", [[1, 2, 3], [[1, 2], [3]], 7])
def test_token_arrays_get_a_clear_422(client: openai.OpenAI, tiny_embedder: Embedder, tokens: object) -> None:
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        client.embeddings.create(model=model(tiny_embedder, "echo-query"), input=tokens)  # type: ignore[arg-type]
    error = _error(refused.value)
    assert error["param"] == "input" and error["type"] == "invalid_request_error"
    assert "token arrays" in error["message"] and "check_embedding_ctx_length=False" in error["message"]


def test_an_unknown_model_is_404_naming_the_served_ones(client: openai.OpenAI, tiny_embedder: Embedder) -> None:
    with pytest.raises(openai.NotFoundError) as refused:
        client.embeddings.create(model="text-embedding-3-small", input="kettle")
    error = _error(refused.value)
    assert error["code"] == "model_not_found" and error["param"] == "model"
    assert model(tiny_embedder, "echo-query") in error["message"]


@pytest.mark.parametrize(
    ("body", "param", "words"),
    [
        ({"input": []}, "input", "1 to 2048 texts, not 0"),
        ({"input": ["kettle", "  "]}, "input", "input[1] is blank"),
        ({"input": "a \ud800 b"}, "input", "lone surrogate"),
        ({"input": "kettle", "encoding_format": "int8"}, "encoding_format", "float"),
        ({"input": "kettle", "dimensions": 3}, "dimensions", "cannot be shortened"),
        ({"input": ["x"] * 2049}, "input", "not 2049"),
        ({"input": ["kettle", None]}, "input", "input[1] must be a string"),
    ],
)
def test_invalid_requests_get_422_in_openai_shape(url: str, tiny_embedder: Embedder, body: dict, param: str,
                                                  words: str) -> None:
    body = {"model": model(tiny_embedder, "echo-document"), **body}
    response = httpx.post(f"{url}/v1/embeddings", content=json.dumps(body),  # ASCII JSON: \ud800 escaped
                          headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["param"] == param and words in error["message"], error


def test_dimensions_equal_to_the_models_are_accepted(client: openai.OpenAI, tiny_embedder: Embedder) -> None:
    answer = client.embeddings.create(model=model(tiny_embedder, "echo-query"), input="kettle",
                                      dimensions=tiny_embedder.dim)
    assert len(answer.data[0].embedding) == tiny_embedder.dim


def test_the_api_key_is_required_and_refusals_before_the_body_are_in_openai_shape(
    store: Collection, tiny_embedder: Embedder
) -> None:
    settings = ServiceSettings(api_key=KEY, max_body_bytes=1024)
    with running(create_app(Searcher(store=store, embedder=tiny_embedder), settings)) as base:
        with pytest.raises(openai.AuthenticationError) as refused:
            openai.OpenAI(base_url=f"{base}/v1", api_key="wrong", max_retries=0).models.list()
        assert _error(refused.value)["code"] == "invalid_api_key"
        keyless = httpx.post(f"{base}/v1/embeddings", json={"model": "m", "input": "kettle"})
        assert keyless.status_code == 401 and keyless.json()["error"]["code"] == "invalid_api_key"
        keyed = openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0)
        assert len(keyed.models.list().data) == 3
        assert keyed.embeddings.create(model=model(tiny_embedder, "echo-query"), input="kettle").data
        with pytest.raises(openai.APIStatusError) as too_big:
            keyed.embeddings.create(model=model(tiny_embedder, "echo-query"), input="x" * 2000)
        assert too_big.value.status_code == 413 and _error(too_big.value)["code"] == "request_too_large"
        chunked = httpx.post(f"{base}/v1/embeddings", content=iter([b'{"input": "' + b"x" * 2000 + b'"}']),
                             headers={"Authorization": f"Bearer {KEY}", "content-type": "application/json"})
        assert chunked.status_code == 413 and chunked.json()["error"]["code"] == "request_too_large"


class GatedEmbedder(Embedder):
    """Records the thread and the texts of every `encode`; texts starting with "block" hold the model thread
    (`blocked` is set) until `gate` opens."""

    gate: threading.Event
    blocked: threading.Event
    threads: list[str]
    embedded: list[str]

    def encode(self, texts, *args, **kwargs):  # type: ignore[no-untyped-def, override]
        self.threads.append(threading.current_thread().name)
        self.embedded += list(texts)
        if any(t.startswith("block") for t in texts):
            self.blocked.set()
            assert self.gate.wait(120), "the test never opened the gate"
        return super().encode(texts, *args, **kwargs)


def _gated(embedder: Embedder) -> GatedEmbedder:
    gated = GatedEmbedder(**{f.name: getattr(embedder, f.name) for f in dataclasses.fields(embedder) if f.init})
    gated.gate, gated.blocked, gated.threads, gated.embedded = threading.Event(), threading.Event(), [], []
    return gated


def _send(base: str, body: dict) -> socket.socket:
    """A whole request to `/v1/embeddings` on a connection kept open (close it to hang up unanswered)."""
    host, port = base.removeprefix("http://").split(":")
    data = json.dumps(body).encode()
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(b"POST /v1/embeddings HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
    return sock


def _until(condition, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


def test_abandoned_embedding_requests_are_dropped_before_their_forward(store: Collection,
                                                                       tiny_embedder: Embedder) -> None:
    gated = _gated(tiny_embedder)
    app = create_app(Searcher(store=store, embedder=gated), ServiceSettings(cache_size=0))
    name = model(gated, "echo-document")
    with running(app) as base, concurrent.futures.ThreadPoolExecutor(1) as pool:
        try:
            blocker = pool.submit(httpx.post, f"{base}/v1/embeddings", json={"model": name, "input": "block it"},
                                  timeout=120)
            assert gated.blocked.wait(60), "the blocking request never reached the model"
            held = [_send(base, {"model": name, "input": f"abandoned {i}"}) for i in range(8)]
            _until(lambda: app.state.batcher.admission.held == 9, "the requests to queue behind the blocking one")
            for sock in held:  # their forwards are queued on the model thread: now their clients go away
                sock.close()
            _until(lambda: app.state.hung_up == 8, "the service to notice the hang-ups")
        finally:
            gated.gate.set()
        assert blocker.result().status_code == 200
        light = httpx.post(f"{base}/v1/embeddings", json={"model": name, "input": "kettle"}, timeout=120)
        assert light.status_code == 200, light.text
    assert not [t for t in gated.embedded if t.startswith("abandoned")], gated.embedded  # were all computed


def test_a_text_over_the_models_limit_is_refused_unless_truncation_is_asked(
    store: Collection, tiny_embedder: Embedder
) -> None:
    fields = {f.name: getattr(tiny_embedder, f.name) for f in dataclasses.fields(tiny_embedder) if f.init}
    short = Embedder(**{**fields, "max_text_tokens": 64})
    long_text, name = "descale the kettle " * 20, model(short, "echo-document")
    assert short.count_tokens(long_text) > 64
    with running(create_app(Searcher(store=store, embedder=short))) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.BadRequestError) as refused:  # was 200: the text cut without a word
            client.embeddings.create(model=name, input=["kettle", long_text])
        error = _error(refused.value)
        assert error["code"] == "context_length_exceeded" and error["param"] == "input", error
        assert "input[1]" in error["message"] and "at most 64 tokens" in error["message"], error
        assert '"truncate": true' in error["message"], error
        answer = client.embeddings.create(model=name, input=["kettle", long_text], encoding_format="float",
                                          extra_body={"truncate": True})
        openapi = httpx.get(f"{base}/openapi.json").json()
    vectors = short.encode(["kettle", long_text], kind="document").echo  # what a cut text embeds as
    np.testing.assert_allclose([d.embedding for d in answer.data], vectors, rtol=0, atol=1e-6)
    assert "400" in openapi["paths"]["/v1/embeddings"]["post"]["responses"]
    assert "truncate" in openapi["components"]["schemas"]["EmbeddingRequest"]["properties"]


def test_embeddings_share_the_search_worker_thread_its_token_budget_and_queue_bound(
    store: Collection, tiny_embedder: Embedder
) -> None:
    gated = _gated(tiny_embedder)
    settings = ServiceSettings(max_queue=1, max_batch=1, max_query_tokens=120, cache_size=0)
    name = model(gated, "echo-document")
    with running(create_app(Searcher(store=store, embedder=gated), settings)) as base, \
            concurrent.futures.ThreadPoolExecutor(2) as pool:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
        with pytest.raises(openai.UnprocessableEntityError) as over:
            client.embeddings.create(model=name, input=["short", "kettle " * 40])
        assert "input[1]" in str(over.value) and "SEARCH_MAX_QUERY_TOKENS" in _error(over.value)["message"]
        try:
            blocker = pool.submit(client.embeddings.create, model=name, input=["block the model", "then this"])
            assert gated.blocked.wait(60), "the blocking request never reached the model"
            search = pool.submit(httpx.post, f"{base}/search", json={"query": "kettle"}, timeout=120)
            with pytest.raises(openai.InternalServerError) as busy:
                client.embeddings.create(model=name, input="one too many")
            assert busy.value.status_code == 503 and int(busy.value.response.headers["Retry-After"]) >= 1
            assert "SEARCH_MAX_QUEUE" in _error(busy.value)["message"]
            time.sleep(0.3)
            assert not search.done(), "a search ran while an embedding forward held the model thread"
        finally:
            gated.gate.set()
        answer = blocker.result(timeout=120)
        assert search.result().status_code == 200
    vectors, _ = expected(tiny_embedder, "echo-document", ["block the model", "then this"])
    np.testing.assert_allclose([d.embedding for d in answer.data], vectors, rtol=0, atol=1e-6)
    alone = [expected(tiny_embedder, "echo-document", [t])[1] for t in ("block the model", "then this")]
    assert answer.usage.prompt_tokens == sum(alone)  # max_batch=1: one forward per text
    assert set(gated.threads) == {"search-worker_0"}


def test_the_docs_examples_run_against_the_service(url: str, tiny_embedder: Embedder,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The Python examples of docs/openai.md (all but LlamaIndex's, which is not installed) pointed at this service
    and its model."""
    doc = (Path(__file__).resolve().parents[1] / "docs" / "openai.md").read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", doc, flags=re.S | re.M)
    runnable = [b for b in blocks if "llama_index" not in b]
    assert len(runnable) >= 2 and len(blocks) > len(runnable)
    namespace: dict[str, object] = {"__name__": "__docs__"}  # one session, top to bottom, as a reader runs them
    for block in runnable:
        code = block.replace("http://127.0.0.1:8000", url).replace("gemma-3-270m/", f"{tiny_embedder.model_name}/")
        exec(compile(code, "docs/openai.md", "exec"), namespace)
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith(f"2 {tiny_embedder.dim} ") and out[2] == f"2 {tiny_embedder.dim}"
    assert out[3] == "True"  # the subclass embeds questions with echo-query


@pytest.mark.slow
def test_the_packaged_model_through_the_openai_client(tmp_path: Path, real_embedder: Embedder) -> None:
    """The names the docs use, and the vectors of Gemma-3-270M; embedding needs no collection."""
    store = open_collection(path=tmp_path / "qdrant")
    try:
        with running(create_app(Searcher(store=store, embedder=real_embedder))) as base:
            client = openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0)
            assert [m.id for m in client.models.list()] == [
                "gemma-3-270m/echo-query", "gemma-3-270m/echo-document", "gemma-3-270m/classical"]
            answer = client.embeddings.create(model="gemma-3-270m/echo-query", input=TEXTS)
    finally:
        store.close()
    vectors, tokens = expected(real_embedder, "echo-query", TEXTS)
    assert vectors.shape == (3, 640) and answer.usage.prompt_tokens == tokens
    np.testing.assert_allclose([d.embedding for d in answer.data], vectors, rtol=0, atol=1e-5)
