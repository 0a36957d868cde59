"""The store: the only package that speaks Qdrant.

`Collection.open(...)` gives the embedded default (Qdrant's engine in-process, `search.store.edge`) or a Qdrant
server (`search.store.server`); everything else reads and writes chunks through the `Collection` API, with the
payload layout of `search.store.schema` and filters as `QueryFilter`.
"""

from search.settings import DEFAULT_COLLECTION
from search.store.collection import Collection, default_data_dir, embedded_folder
from search.store.errors import (
    CollectionNotFoundError,
    FilterError,
    FingerprintMismatchError,
    OldFormatError,
    StoreDamagedError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreUnavailableError,
)
from search.store.filters import FilterLike, QueryFilter
from search.store.schema import (
    CHUNK_INDEX,
    CHUNKER,
    CLASSICAL,
    CONTENT_HASH,
    ECHO,
    N_CHUNKS,
    PAGE,
    SOURCE,
    TEXT,
    TITLE,
    VECTOR_NAMES,
    ChunkPoint,
    CollectionInfo,
    StoredHit,
    point_id,
)

__all__ = [
    "CHUNKER", "CHUNK_INDEX", "CLASSICAL", "CONTENT_HASH", "DEFAULT_COLLECTION", "ECHO", "N_CHUNKS", "PAGE",
    "SOURCE", "TEXT", "TITLE", "VECTOR_NAMES", "ChunkPoint", "Collection", "CollectionInfo",
    "CollectionNotFoundError", "FilterError", "FilterLike", "FingerprintMismatchError", "OldFormatError",
    "QueryFilter", "StoreDamagedError", "StoreError", "StoreFullError", "StoreLockedError", "StoreUnavailableError",
    "StoredHit", "default_data_dir",
    "embedded_folder", "point_id",
]
