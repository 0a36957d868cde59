"""The store: the only package that speaks Qdrant.

`open_collection(...)` gives the embedded default (Qdrant's engine in-process, `search.store.edge`) or a Qdrant
server (`search.store.server`); everything else reads and writes chunks through the `Collection` API, with the
payload layout of `search.store.schema` and filters as `QueryFilter`.
"""

from search.settings import DEFAULT_COLLECTION, default_data_dir
from search.store.collection import Collection, embedded_folder
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
from search.store.factory import collection_options, open_collection
from search.store.filters import FilterLike, QueryFilter
from search.store.fusion import Fusion, FusionMethod
from search.store.schema import (
    BM25,
    CHUNK_INDEX,
    CHUNKER,
    CLASSICAL,
    CONTENT_HASH,
    ECHO,
    HYBRID,
    N_CHUNKS,
    PAGE,
    RANKINGS,
    SOURCE,
    TEXT,
    TEXT_RANKINGS,
    TITLE,
    VECTOR_NAMES,
    ChunkPoint,
    CollectionInfo,
    StoredHit,
    point_id,
)

__all__ = [
    "BM25", "CHUNKER", "CHUNK_INDEX", "CLASSICAL", "CONTENT_HASH", "DEFAULT_COLLECTION", "ECHO", "HYBRID", "N_CHUNKS",
    "PAGE", "RANKINGS", "SOURCE", "TEXT", "TEXT_RANKINGS", "TITLE", "VECTOR_NAMES", "ChunkPoint", "Collection",
    "CollectionInfo", "CollectionNotFoundError", "FilterError", "FilterLike", "FingerprintMismatchError", "Fusion",
    "FusionMethod", "MissingBm25Error", "OldFormatError", "QueryFilter", "StoreAddressError", "StoreDamagedError",
    "StoreError", "StoreFullError", "StoreLockedError", "StoreUnavailableError", "StoredHit", "collection_options",
    "default_data_dir", "embedded_folder", "open_collection", "point_id",
]
