"""A plugin for Simon Willison's `llm`: echo embeddings as `llm` embedding models (`llm embed`, `embed-multi`,
`similar`).

Registered through the `llm` entry point of the package (`pip install "echo-search[llm]"`). Two models, named after
the model of the settings (`ECHO_SEARCH_MODEL`, default the packaged Gemma-3-270M):

- `echo-gemma-3-270m`: the document template, for what you store *and* for the questions `llm similar` embeds with
  the collection's model (`llm` has one model per collection, so both sides share the template);
- `echo-gemma-3-270m-query`: the instructed query template, for a question against a collection embedded with the
  first model (`collection.similar_by_vector`, from Python).

The model loads on the first text embedded, once per process, as `embedder.langchain.EchoEmbeddings` loads it.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import llm

from embedder.settings import EmbedderSettings

if TYPE_CHECKING:
    from embedder.langchain import EchoEmbeddings

Side = Literal["document", "query"]


def model_label(model: str) -> str:
    """The short name of `model` in the plugin's model ids: a packaged name as it is, else the last part of its path
    or Hugging Face id (`.gguf` dropped)."""
    return Path(model).name.removesuffix(".gguf")


class EchoEmbeddingModel(llm.EmbeddingModel):
    """Echo vectors of one side (the document or the instructed query template) of the settings' model."""

    supports_text = True
    supports_binary = False
    batch_size = 32

    def __init__(self, model_id: str, side: Side, settings: EmbedderSettings) -> None:
        self.model_id = model_id
        self.side = side
        self.settings = settings
        self._embeddings: EchoEmbeddings | None = None

    def embed_batch(self, items: Iterable[str | bytes], *, key: str | None = None) -> Iterator[list[float]]:
        """The vectors of `items` (texts; `key` is llm's API key, which a local model does not need)."""
        from embedder.langchain import EchoEmbeddings

        if self._embeddings is None:
            self._embeddings = EchoEmbeddings(settings=self.settings)
        texts = [item if isinstance(item, str) else item.decode() for item in items]
        if self.side == "document":
            yield from self._embeddings.embed_documents(texts)
        else:
            yield from (self._embeddings.embed_query(text) for text in texts)


@llm.hookimpl
def register_embedding_models(register) -> None:  # noqa: ANN001 - llm's register callable
    """The document-side and query-side models of the settings' model."""
    try:
        settings = EmbedderSettings()
    except ValueError as exc:  # an unusable ECHO_SEARCH_* value: the other plugins' models stay usable
        warnings.warn(f"echo-search: no echo models registered: {exc}", stacklevel=2)
        return
    name = f"echo-{model_label(settings.model)}"
    register(EchoEmbeddingModel(name, "document", settings))
    register(EchoEmbeddingModel(f"{name}-query", "query", settings))
