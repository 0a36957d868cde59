"""The service's wire schema: the request and response models of `/search`, `/health`, `/collection` and
`/chunks`, and the error body every route answers with (its OpenAPI document is generated from them)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, PlainSerializer, PlainValidator
from pydantic_core import PydanticCustomError

from search.query.request import SearchQuery
from search.query.results import Mode
from search.query.searcher import Hit
from search.store import FilterError, QueryFilter
from search.validation import K_MAX, K_MIN

MAX_QUERY_CHARS = 2000


WireFilter = str | list[str] | dict[str, Any] | None
"""A filter in JSON: source path(s) or a Qdrant filter object."""


def _parse_filter(value: Any) -> QueryFilter | None:
    """Parse the filter here, once, so that a bad one gets one short message, not one per member of the union."""
    try:
        return QueryFilter.parse(value)
    except FilterError as exc:
        raise PydanticCustomError("filter", str(exc)) from None


def _filter_json(value: QueryFilter | None) -> WireFilter:
    return value.to_json() if value is not None else None


def not_blank(query: str) -> str:
    """A question of whitespace alone is refused (422, "query is blank"), on every route that takes one."""
    if not query.strip():
        raise PydanticCustomError("blank", "query is blank")
    return query


class SearchRequest(BaseModel):
    """A question and how to search for it."""

    query: Annotated[str, AfterValidator(not_blank)] = Field(min_length=1, max_length=MAX_QUERY_CHARS,
                                                             description="The question.")
    k: int = Field(10, ge=K_MIN, le=K_MAX, strict=True, description="Hits per ranking (a JSON integer).")
    mode: Mode = Field("both", description="What to rank with: `echo`, `classical`, `both` (echo and classical), "
                       "`bm25` (the query's words; no model runs), `hybrid` (echo and BM25 fused in one engine "
                       "query), `rerank` (the first stage's top hits, hybrid's by default, rescored by the model: "
                       "the score is the mean log-probability of the question's tokens after the passage) or `all` "
                       "four but rerank. Each ranking fills its own list of the answer (`rerank` also fills its first "
                       "stage's).")
    filter: Annotated[
        QueryFilter | None,
        PlainValidator(_parse_filter, json_schema_input_type=WireFilter),
        PlainSerializer(_filter_json, return_type=WireFilter),
    ] = Field(None, description="Source path(s) to search within, or a Qdrant filter object.")
    instruction: str | None = Field(
        None, max_length=MAX_QUERY_CHARS, description="Retrieval instruction; the default one when omitted."
    )

    def to_query(self) -> SearchQuery:
        """The request as the one query object; `InvalidRequestError` (422) for what the schema lets through but
        the product refuses (text that is not valid Unicode, an instruction with template slots)."""
        return SearchQuery(self.query, self.k, self.mode, self.filter, self.instruction)


class Timings(BaseModel):
    embed_ms: float = Field(description="Model forward time per query (a batched forward is shared out).")
    search_ms: float = Field(description="Nearest-neighbour search in Qdrant for this query.")
    queue_ms: float = Field(description="From the request's arrival until its forward started (or the cache answered).")
    total_ms: float = Field(description="Server time from the request's arrival to the response.")
    batch_size: int = Field(description="Queries in this forward; 0 for a cached answer.")
    rerank_ms: float = Field(0.0, description="Mode `rerank`: the model's forward over this query's passages.")


class SearchResponse(BaseModel):
    echo: list[Hit]
    classical: list[Hit]
    bm25: list[Hit] = Field(default_factory=list, description="Filled by mode `bm25` and `all`.")
    hybrid: list[Hit] = Field(default_factory=list, description="Filled by mode `hybrid` and `all`.")
    rerank: list[Hit] = Field(default_factory=list, description="Filled by mode `rerank`.")
    timings: Timings
    cached: bool


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    model_loaded: bool
    model: str
    store_reachable: bool
    collection_exists: bool
    rankings: list[str] = Field(default_factory=list, description="The rankings this service can give: echo, "
                                "classical, bm25, hybrid, and rerank when its model can (its LM head is tied).")
    detail: str | None = None


class ChunksResponse(BaseModel):
    source: str
    chunks: list[dict[str, Any]] = Field(description="The chunks' records in order (each a hit's `payload`: source, "
                                                     "chunk_index, text, title, page, n_chunks, ...).")


class CollectionResponse(BaseModel):  # `CollectionInfo` on the wire: built from `CollectionInfo.as_dict()`
    name: str
    location: str
    points: int
    files: int
    sources: list[str]
    fingerprint: str | None
    embedder: dict[str, Any]
    index: str = Field(description='"hnsw", "partial" (recent writes not indexed yet), "exact" (small: full scan), '
                                   '"server" (a Qdrant server manages it), "deferred" (a server collection whose first '
                                   'ingest has not finished: indexed when one does) or "none" (no collection).')
    indexed_vectors: int
    segments: int
    generation: int = Field(description="The write generation: it changes on every write to the collection (equal "
                                        "values, equal contents), so a client can tell that an answer it kept is "
                                        "stale.")


class ErrorResponse(BaseModel):
    detail: str
    error: str


