"""LlamaIndex `BaseEmbedding` backed by an `Embedder`: echo (or classical) vectors for any LlamaIndex index."""

from __future__ import annotations

from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from pydantic import PrivateAttr

from embedder.langchain import EchoEmbeddings


class EchoEmbedding(BaseEmbedding):
    """Echo embeddings for LlamaIndex: texts (nodes) use the document template, queries the instructed query
    template, exactly as `embedder.langchain.EchoEmbeddings` (which does the work) embeds them.

    Takes `EchoEmbeddings`' arguments (`model`, `device`, `dtype`, `instruction`, `vector`, `batch_tokens`,
    `embedder`, `settings`) besides LlamaIndex's own (`embed_batch_size`, ...); the model loads on first use.
    Built without `settings=` or `embedder=`, it reads the `ECHO_SEARCH_*` environment once, when it is built.

    Example:
        >>> from embedder.llamaindex import EchoEmbedding
        >>> embed_model = EchoEmbedding()  # packaged Gemma-3-270M, loaded on the first call
        >>> vector = embed_model.get_query_embedding("How do echo embeddings work?")
    """

    _echo: EchoEmbeddings = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        own = {name: kwargs.pop(name) for name in list(kwargs) if name in EchoEmbeddings.model_fields}
        echo = EchoEmbeddings(**own)
        described = echo.model or (echo.settings.model if echo.settings else echo.get_embedder().model_name)
        kwargs.setdefault("model_name", f"{described}/{echo.vector}")
        super().__init__(**kwargs)
        self._echo = echo

    @classmethod
    def class_name(cls) -> str:
        return "EchoEmbedding"

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._echo.embed_query(query)

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return await self._echo.aembed_query(query)

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._echo.embed_documents([text])[0]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._echo.aembed_documents([text]))[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._echo.embed_documents(texts)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._echo.aembed_documents(texts)
