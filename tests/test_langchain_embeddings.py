"""`EchoEmbeddings` on the tiny random model: the langchain-tests unit suite and our own contract."""

from __future__ import annotations

import asyncio
import warnings
from pathlib import Path

import numpy as np
import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests
from langchain_tests.unit_tests import EmbeddingsUnitTests
from pydantic import ValidationError

from embedder import Embedder, ModelNotFoundError
from embedder.langchain import EchoEmbeddings
from embedder.templates import DEFAULT_INSTRUCTION

DOCS = [
    "The cat sat on the mat.",
    "Quantum computers use qubits that can be in superposition.",
    "Rivers flow downhill to the sea, carrying sediment from the mountains to the plains below.",
]


class TestEchoEmbeddingsUnitSuite(EmbeddingsUnitTests):
    @pytest.fixture(autouse=True)
    def _tiny(self, tiny_model_dir: Path) -> None:
        self.model_dir = str(tiny_model_dir)

    @property
    def embeddings_class(self) -> type[EchoEmbeddings]:
        return EchoEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": self.model_dir, "device": "cpu", "dtype": "float32"}


class TestEchoEmbeddingsTinyIntegrationSuite(EmbeddingsIntegrationTests):
    """The integration suite on the tiny model, loading through `model=` (the real model runs it in the slow file)."""

    @pytest.fixture(autouse=True)
    def _tiny(self, tiny_model_dir: Path) -> None:
        self.model_dir = str(tiny_model_dir)

    @property
    def embeddings_class(self) -> type[EchoEmbeddings]:
        return EchoEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": self.model_dir, "device": "cpu", "dtype": "float32"}


def test_construction_does_not_load_and_empty_input_needs_no_model() -> None:
    emb = EchoEmbeddings(model="/no/such/model")
    assert emb.embed_documents([]) == []
    with pytest.raises(ModelNotFoundError):
        emb.embed_query("now it has to load")


def test_documents_and_queries_use_their_templates(tiny_embedder: Embedder) -> None:
    emb = EchoEmbeddings(embedder=tiny_embedder)
    docs = np.array(emb.embed_documents(DOCS))
    np.testing.assert_allclose(docs, tiny_embedder.encode(DOCS, kind="document").echo, atol=1e-6)
    query = np.array(emb.embed_query(DOCS[0]))
    expected = tiny_embedder.encode(DOCS[:1], kind="query", instruction=DEFAULT_INSTRUCTION).echo[0]
    np.testing.assert_allclose(query, expected, atol=1e-6)
    assert float(query @ docs[0]) < 0.99999  # the query template is not the document template


def test_instruction_changes_queries_only(tiny_embedder: Embedder) -> None:
    plain = EchoEmbeddings(embedder=tiny_embedder)
    recipes = EchoEmbeddings(embedder=tiny_embedder, instruction="Find a recipe for the dish")
    assert plain.embed_documents(DOCS) == recipes.embed_documents(DOCS)
    q_plain, q_recipes = np.array(plain.embed_query(DOCS[0])), np.array(recipes.embed_query(DOCS[0]))
    assert float(q_plain @ q_recipes) < 0.99999
    expected = tiny_embedder.encode(DOCS[:1], kind="query", instruction="Find a recipe for the dish").echo[0]
    np.testing.assert_allclose(q_recipes, expected, atol=1e-6)


def test_classical_vector_equals_the_embedders_classical(tiny_embedder: Embedder) -> None:
    emb = EchoEmbeddings(embedder=tiny_embedder, vector="classical")
    np.testing.assert_allclose(emb.embed_documents(DOCS), tiny_embedder.encode(DOCS).classical, atol=1e-6)
    expected = tiny_embedder.encode(DOCS[:1], kind="query").classical[0]
    np.testing.assert_allclose(emb.embed_query(DOCS[0]), expected, atol=1e-6)


def test_classical_from_an_embedder_without_it_is_a_clear_error(tiny_model_dir: Path) -> None:
    echo_only = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32", classical="none")
    with pytest.raises(ValueError, match="classical='none'"):
        EchoEmbeddings(embedder=echo_only, vector="classical").embed_documents(DOCS)


def test_loading_by_name_loads_once_and_matches_a_shared_embedder(
    tiny_model_dir: Path, tiny_embedder: Embedder
) -> None:
    emb = EchoEmbeddings(model=str(tiny_model_dir), device="cpu", dtype="float32", batch_tokens=256)
    loaded = emb.get_embedder()
    assert emb.get_embedder() is loaded
    assert loaded.batch_tokens == 256
    np.testing.assert_allclose(emb.embed_documents(DOCS), tiny_embedder.encode(DOCS).echo, atol=1e-5)
    classical = EchoEmbeddings(model=str(tiny_model_dir), device="cpu", dtype="float32", vector="classical")
    np.testing.assert_allclose(classical.embed_documents(DOCS), tiny_embedder.encode(DOCS).classical, atol=1e-5)


@pytest.mark.parametrize("kwargs", [{"vector": "both"}, {"batch_tokens": 0}, {"unknown": 1}])
def test_bad_arguments_are_refused(kwargs: dict) -> None:
    with pytest.raises(ValidationError):
        EchoEmbeddings(**kwargs)


def test_a_shared_embedder_excludes_loading_arguments(tiny_embedder: Embedder) -> None:
    with pytest.raises(ValidationError, match="either embedder= or model, device, not both"):
        EchoEmbeddings(embedder=tiny_embedder, model="gemma-3-270m", device="cpu")


def test_empty_text_is_a_clear_error(tiny_embedder: Embedder) -> None:
    with pytest.raises(ValueError, match=r"texts\[1\] is empty"):
        EchoEmbeddings(embedder=tiny_embedder).embed_documents(["fine", "  "])


async def test_async_matches_sync_and_does_not_block_the_loop(tiny_embedder: Embedder) -> None:
    emb = EchoEmbeddings(embedder=tiny_embedder)
    texts = [f"Paragraph {i}: " + "words that keep the model busy for a while. " * 8 for i in range(40)]
    ticks = 0
    running = True

    async def ticker() -> None:
        nonlocal ticks
        while running:
            await asyncio.sleep(0.001)
            ticks += 1

    task = asyncio.create_task(ticker())
    vectors = await emb.aembed_documents(texts)
    running = False
    await task
    assert ticks >= 3, "the event loop did not run while the model was embedding"
    np.testing.assert_allclose(vectors, emb.embed_documents(texts), atol=1e-6)


async def test_concurrent_async_calls_give_the_sequential_results(tiny_embedder: Embedder) -> None:
    emb = EchoEmbeddings(embedder=tiny_embedder)
    results = await asyncio.gather(
        emb.aembed_documents(DOCS), emb.aembed_query(DOCS[1]), emb.aembed_documents(DOCS[::-1])
    )
    np.testing.assert_allclose(results[0], emb.embed_documents(DOCS), atol=1e-6)
    np.testing.assert_allclose(results[1], emb.embed_query(DOCS[1]), atol=1e-6)
    np.testing.assert_allclose(results[2], emb.embed_documents(DOCS[::-1]), atol=1e-6)


@pytest.mark.parametrize("vector", ["echo", "classical"])
def test_truncation_warns_once_per_call_with_the_count_and_the_budget(tiny_embedder: Embedder, vector: str) -> None:
    emb = EchoEmbeddings(embedder=tiny_embedder, vector=vector)
    texts = ["x " * 50_000, "short text", "y" * 100_000]  # 100,000 characters: far past the budget
    with pytest.warns(UserWarning) as caught:
        emb.embed_documents(texts)
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1, messages
    budget = tiny_embedder.max_text_tokens
    assert f"2 of 3 text(s) were longer than the model's budget of {budget} tokens" in messages[0]
    with pytest.warns(UserWarning, match="1 of 1 text"):
        emb.embed_query("z" * 100_000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        emb.embed_documents(["short text"])  # no warning when nothing is cut


def test_the_environment_is_read_once_when_built_unless_settings_are_given(
    tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from embedder.settings import EmbedderSettings

    for name, value in (("MODEL", str(tiny_model_dir)), ("DEVICE", "cpu"), ("DTYPE", "float32")):
        monkeypatch.setenv(f"ECHO_SEARCH_{name}", value)
    from_env = EchoEmbeddings()
    monkeypatch.setenv("ECHO_SEARCH_MODEL", "/no/such/model")  # read when built, not when the model loads
    assert len(from_env.embed_query("a question")) == from_env.get_embedder().dim
    given = EchoEmbeddings(settings=EmbedderSettings(model=str(tiny_model_dir), device="cpu", dtype="float32",
                                                     quantize="int8"))
    assert given.get_embedder().quantization == "int8"
    with pytest.raises(ValidationError, match="not both"):
        EchoEmbeddings(embedder=from_env.get_embedder(), settings=EmbedderSettings())
