from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.offline import setup_offline
from tests.tiny_model import save_tiny_model

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
setup_offline()  # the tests parse in this process, as the `ingest` command and the UI do in theirs


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny random causal LM: loads in milliseconds, exercises the real loading path."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def tiny_embedder(tiny_model_dir: Path):
    from embedder import Embedder

    return Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def tied_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder of a tiny random Llama whose LM head is its input embeddings (query-likelihood reranking needs that)."""
    return save_tiny_model(tmp_path_factory.mktemp("tiny-llama-tied"), tied=True)


@pytest.fixture(scope="session")
def tied_embedder(tied_model_dir: Path):
    """The embedder of `tied_model_dir`: it can rerank."""
    from embedder import Embedder

    return Embedder.from_pretrained(tied_model_dir, device="cpu", dtype="float32")


@pytest.fixture(scope="session")
def real_embedder():
    """The packaged default model (Gemma-3-270M), converted once into the user cache."""
    from embedder import Embedder

    return Embedder.from_pretrained()
