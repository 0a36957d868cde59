"""LangChain retriever over a collection made by `ingest`: echo, classical, BM25 or hybrid search as `Document`s."""

from __future__ import annotations

import threading
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables.config import run_in_executor
from pydantic import ConfigDict, Field, InstanceOf, PrivateAttr, SecretStr, field_validator, model_validator

from embedder import Embedder
from search.query.backend import SearchBackend, open_backend
from search.query.request import SearchQuery
from search.query.results import Hit
from search.settings import Settings
from search.store import FilterLike, QueryFilter
from search.validation import check_collection_name


class EchoRetriever(BaseRetriever):
    """Ranks the chunks of an ingested collection for a question; each hit becomes a `Document`.

    Give an open `searcher=`, or where to open one (`url`/`api_key` for a Qdrant server, else the embedded store
    under `path` or the default data folder; `collection`; `model` or a loaded `embedder=`); it opens on first use.
    `metadata` holds the chunk payload (source, chunk_index, title, page, ...) plus score, rank and vector.
    Sync and async (`ainvoke` runs the search in a worker thread); `k` and `filter` can also be given per call.

    An `EchoRetriever` is a program's entry point: built without `settings=` (and without `searcher=`), it reads the
    environment (`QDRANT_URL`, `ECHO_SEARCH_DATA`, `ECHO_SEARCH_MODEL`, ..., as `Settings.load()`) once, when it is
    built, for what its arguments leave open; its own arguments win over those.

    Example:
        >>> from search.langchain import EchoRetriever
        >>> retriever = EchoRetriever(k=3)  # the default collection in the default data folder
        >>> docs = retriever.invoke("How do I rotate the API keys?")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    searcher: InstanceOf[SearchBackend] | None = Field(default=None, exclude=True, repr=False)
    url: str | None = None
    api_key: SecretStr | None = None
    path: str | None = None
    collection: str | None = None
    model: str | None = None
    embedder: InstanceOf[Embedder] | None = Field(default=None, exclude=True, repr=False)
    settings: InstanceOf[Settings] | None = Field(default=None, exclude=True, repr=False)
    """Where the store and the model are when the arguments above leave it open; None: `Settings.load()`, read
    from the environment when this object is built."""
    k: int = Field(default=4, ge=1, le=100)
    """How many documents to return."""
    mode: Literal["echo", "classical", "bm25", "hybrid"] = "echo"
    """What ranks the chunks: a stored vector (`echo`, `classical`), the query's words (`bm25`: the model is not
    loaded when this retriever opens the searcher), or echo and BM25 fused in the engine (`hybrid`, with the
    fusion of the settings, `ECHO_SEARCH_FUSION`)."""
    filter: InstanceOf[QueryFilter] | None = None
    """Source path(s) to search within, or a Qdrant filter (a dict or a qdrant-client `Filter`)."""
    instruction: str | None = None
    """Task instruction of the query template; None for the default."""

    _opened: SearchBackend | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @field_validator("filter", mode="before")
    @classmethod
    def _parse_filter(cls, value: Any) -> QueryFilter | None:
        return QueryFilter.parse(value)

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str | None) -> str | None:
        return None if value is None else check_collection_name(value)

    @model_validator(mode="after")
    def _searcher_or_opening_args(self) -> EchoRetriever:
        given = [n for n in ("url", "api_key", "path", "collection", "model", "embedder", "settings")
                 if getattr(self, n)]
        if self.searcher is not None and given:
            raise ValueError(f"pass either searcher= or {', '.join(given)}, not both: the searcher is already open")
        if self.searcher is None and self.settings is None:
            self.settings = Settings.load()  # the entry point's one read of the environment
        return self

    def get_searcher(self) -> SearchBackend:
        """What searches: `searcher=`, else what the settings and arguments name, opened on the first call
        (thread-safe) as the `search` command opens it: the service that holds the embedded store when one does,
        else the store and the model in this process."""
        if self.searcher is not None:
            return self.searcher
        with self._lock:
            if self._opened is None:
                assert self.settings is not None  # set when built without a searcher
                settings = self.settings.override(
                    store={"qdrant_url": self.url, "collection": self.collection,
                           "qdrant_api_key": self.api_key.get_secret_value() if self.api_key else None},
                    embedder={"model": self.model},
                )
                self._opened = open_backend(settings, self.embedder, load_model=self.mode != "bm25", path=self.path)
            return self._opened

    def _get_relevant_documents(
        self,
        query: str,
        *,
        run_manager: CallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: FilterLike = None,
    ) -> list[Document]:
        result = self.get_searcher().search(SearchQuery(
            query,
            k=k if k is not None else self.k,
            mode=self.mode,
            filter=filter if filter is not None else self.filter,
            instruction=self.instruction,
        ))
        return [self._document(hit) for hit in result.ranking(self.mode)]

    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
        filter: FilterLike = None,
    ) -> list[Document]:
        return await run_in_executor(
            None, self._get_relevant_documents, query, run_manager=run_manager.get_sync(), k=k, filter=filter
        )

    def _document(self, hit: Hit) -> Document:
        metadata = hit.record.metadata()
        metadata.update(
            source=hit.source, chunk_index=hit.chunk_index, score=hit.score, rank=hit.rank, vector=self.mode, z=hit.z
        )
        return Document(id=hit.id, page_content=hit.text, metadata=metadata)
