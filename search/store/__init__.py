"""The store: the only package that speaks Qdrant.

`open_collection(...)` gives the embedded default (Qdrant's engine in-process, `search.store.edge.collection`) or a
Qdrant server (`search.store.server`); everything else reads and writes chunks through the `Collection` API, as typed
records (`ChunkRecord`, laid out by `search.store.schema`) and with filters as `QueryFilter`.

Importing it loads no Qdrant package (the implementations import theirs when `open_collection` picks one), so the
HTTP client and the UI load none.
"""

from __future__ import annotations

from search.store.collection import Collection
from search.store.defaults import DEFAULT_COLLECTION, default_data_dir, embedded_folder
from search.store.errors import (
    CollectionNotFoundError,
    FilterError,
    FingerprintMismatchError,
    MissingBm25Error,
    OldFormatError,
    StoreAddressError,
    StoreDamagedError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreUnavailableError,
)
from search.store.factory import open_collection
from search.store.filters import FilterLike, QueryFilter
from search.store.fusion import Fusion, FusionMethod
from search.store.schema import (
    BM25,
    CLASSICAL,
    ECHO,
    HYBRID,
    RANKINGS,
    RERANK,
    SEARCH_RANKINGS,
    TEXT_RANKINGS,
    VECTOR_NAMES,
    ChunkPoint,
    ChunkRecord,
    CollectionInfo,
    StoredHit,
    point_id,
)

__all__ = [
    "BM25", "CLASSICAL", "DEFAULT_COLLECTION", "ECHO", "HYBRID", "RANKINGS", "RERANK", "SEARCH_RANKINGS",
    "TEXT_RANKINGS", "VECTOR_NAMES",
    "ChunkPoint", "ChunkRecord", "Collection", "CollectionInfo", "CollectionNotFoundError", "FilterError",
    "FilterLike", "FingerprintMismatchError", "Fusion", "FusionMethod", "MissingBm25Error", "OldFormatError",
    "QueryFilter", "StoreAddressError", "StoreDamagedError", "StoreError", "StoreFullError", "StoreLockedError",
    "StoreUnavailableError", "StoredHit", "default_data_dir", "embedded_folder",
    "open_collection", "point_id",
]
