"""`QueryFilter`: which chunks a query may return, and its translation for each store implementation.

Callers give source path(s) or a Qdrant filter in its JSON form (the REST API's `filter` object); the filter is
validated once here, kept as canonical JSON (so equal filters are equal and hashable: the service's cache keys
them), and turned into qdrant-client models for a server or into the engine's own types for the embedded store.
Validation and translation live in `search.store.qdrant_filters`, imported only when a Qdrant filter is used: source
paths need no Qdrant package (the HTTP client and the UI in HTTP mode import none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from search.store.errors import FilterError

if TYPE_CHECKING:
    import qdrant_edge as edge
    from qdrant_client import models


@dataclass(frozen=True)
class QueryFilter:
    """Source paths to search within, or a Qdrant filter (canonical JSON); never both."""

    sources: tuple[str, ...] = ()
    qdrant_json: str | None = None

    @classmethod
    def parse(cls, value: object) -> QueryFilter | None:
        """A `QueryFilter` from source path(s), a Qdrant filter (dict or qdrant-client model) or a `QueryFilter`;
        None for no filter. Raises `FilterError` with a short message for anything else or an invalid filter."""
        if value is None or isinstance(value, QueryFilter):
            return value
        if isinstance(value, str):
            return cls(sources=(value,)) if value else None
        if isinstance(value, BaseModel):
            value = value.model_dump(mode="json", by_alias=True, exclude_none=True)
        if isinstance(value, Mapping):
            from search.store.qdrant_filters import canonical_json

            return cls(qdrant_json=canonical_json(value))
        if isinstance(value, Sequence) and all(isinstance(v, str) for v in value):
            return cls(sources=tuple(sorted(set(value)))) if value else None
        raise FilterError("filter must be a source path, a list of them, or a Qdrant filter object")

    def to_json(self) -> str | list[str] | dict[str, Any]:
        """The form a caller would send over HTTP (the inverse of `parse`)."""
        if self.qdrant_json is not None:
            return dict(json.loads(self.qdrant_json))
        return list(self.sources)

    def to_client(self) -> models.Filter:
        """The filter as qdrant-client models (for `ServerCollection`)."""
        from search.store.qdrant_filters import to_client

        return to_client(self)

    def to_edge(self) -> edge.Filter:
        """The filter as the embedded engine's types. Raises `FilterError` for a condition it lacks."""
        from search.store.qdrant_filters import client_to_edge

        return client_to_edge(self.to_client())


FilterLike = QueryFilter | str | Sequence[str] | Mapping[str, Any] | BaseModel | None
"""What `SearchQuery` and the LangChain retriever accept as `filter`: see `QueryFilter.parse`."""
