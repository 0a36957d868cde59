"""`SearchQuery`: one search request, validated once where it enters (an HTTP body, the command line, the UI, the
LangChain retriever, the Python API) and passed as it is through the batcher and the searcher to the store.

The filter is parsed here, once, into a `QueryFilter` (source paths or canonical Qdrant JSON, hashable); the store
turns it into the embedded engine's or the server client's own types only when it searches.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

from search.query.results import MODES, Mode
from search.store import FilterLike, QueryFilter
from search.validation import InvalidRequestError, check_instruction, check_k, check_text

FUSED_MODES: tuple[str, ...] = ("hybrid", "all")
"""Modes whose hybrid ranking depends on k (the fusion prefetches a multiple of k from each ranking)."""


@dataclass(frozen=True, init=False)
class SearchQuery:
    """A question and how to search for it; equal queries are equal and hashable (the service caches by them).

    `SearchQuery("how do I ...?", k=5, mode="hybrid", filter="/docs/a.md")`: `filter` is source path(s), a Qdrant
    filter (dict or qdrant-client `Filter`) or a `QueryFilter`, and is kept parsed; an empty `instruction` means
    the default one (None). Raises `InvalidRequestError` (k out of range, an unknown mode, text that is not valid
    Unicode, an instruction with template slots) or its subclass `FilterError` (an invalid filter)."""

    text: str
    k: int
    mode: Mode
    filter: QueryFilter | None
    instruction: str | None
    """Task instruction of the query template; None for the default."""

    def __init__(self, text: str, k: int = 10, mode: Mode = "both", filter: FilterLike = None,
                 instruction: str | None = None) -> None:
        if mode not in MODES:
            raise InvalidRequestError(f"mode must be one of {', '.join(map(repr, MODES))}, got {mode!r}")
        object.__setattr__(self, "text", check_text(text))
        object.__setattr__(self, "k", check_k(k))
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "filter", QueryFilter.parse(filter))
        object.__setattr__(self, "instruction", check_instruction(instruction) if instruction else None)

    @classmethod
    def of(cls, query: SearchQuery | str, k: int | None = None, mode: Mode | None = None, filter: FilterLike = None,
           instruction: str | None = None) -> SearchQuery:
        """`query` as a `SearchQuery`: a string with the options given (the defaults for the others), or a
        `SearchQuery` with the options given replacing its own."""
        if isinstance(query, str):
            return cls(query, 10 if k is None else k, mode or "both", filter, instruction)
        return cls(query.text, query.k if k is None else k, mode or query.mode,
                   query.filter if filter is None else filter,
                   query.instruction if instruction is None else instruction)

    def group_key(self) -> Hashable:
        """Queries with equal group keys can share one `search_many` call: the same mode, filter and instruction,
        and for a fused mode the same k (other modes rank the largest k once, and each result is cut to its k)."""
        return self.mode, self.filter, self.instruction, self.k if self.mode in FUSED_MODES else None
