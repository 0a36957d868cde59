"""`Collection`: the typed API every other module uses to read and write chunks; `Collection.open` picks the backend.

Two backends implement it: `EdgeCollection`, Qdrant's engine in-process on a local folder (the default), and
`ServerCollection`, a Qdrant server (`--qdrant-url` / `$QDRANT_URL`). Only this package imports a Qdrant package.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from search.settings import StoreSettings
from search.store.errors import CollectionNotFoundError, FingerprintMismatchError
from search.store.filters import FilterLike, QueryFilter
from search.store.schema import ChunkPoint, CollectionInfo, StoredHit
from search.validation import check_collection_name


def default_data_dir() -> Path:
    """The settings' data folder (`StoreSettings.data_dir`: `$ECHO_SEARCH_DATA` or the XDG data folder)."""
    return StoreSettings().data_dir()


def next_generation(current: int) -> int:
    """A new write generation: the clock in nanoseconds, and always above `current`.

    Not `current + 1`: two writers that read the same value would write the same next one, and a restarted
    process would hand out values a reader already saw. Clock values never repeat that way."""
    return max(time.time_ns(), current + 1)


class Collection(ABC):
    """One collection of chunk points: two named vectors (echo, classical) and a payload per point.

    A write (`upsert`, `delete_source`, `set_payload`) returns once it is searchable, and then changes
    `generation()`, so a reader that caches answers can tell they are stale even when the point count is the same.
    """

    name: str
    location: str
    index_seconds: float = 0.0
    """Time this object spent building the search index (`optimize`), for reports and benchmarks."""

    @classmethod
    def open(
        cls,
        url: str | None = None,
        api_key: str | None = None,
        path: str | os.PathLike[str] | None = None,
        collection: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> Collection:
        """Connect to a server (`url`; ":memory:" is qdrant-client's in-process server API), or open the embedded
        store: the folder `path`, else `qdrant/` under the data folder `data_dir`. Arguments left at None come from
        `StoreSettings` (`$QDRANT_URL`, `$ECHO_SEARCH_DATA`, ...). Checked once here: the server answers, the folder
        is not in use and is not in the old format (`OldFormatError` names the command that migrates it)."""
        if collection is not None:
            check_collection_name(collection)  # before it is joined to any path
        where = StoreSettings().override(qdrant_url=url, qdrant_api_key=api_key, collection=collection,
                                         data=data_dir)
        if where.qdrant_url:
            from search.store.server import ServerCollection

            return ServerCollection.connect(where.qdrant_url, where.qdrant_api_key, where.collection,
                                            shards=where.shards, replicas=where.replicas)
        from search.store.edge import EdgeCollection

        return EdgeCollection.open_folder(embedded_folder(path, where.data_dir()), where.collection,
                                          min_free_mb=where.min_free_mb)

    # -- lifecycle --------------------------------------------------------------------------------------------
    @abstractmethod
    def exists(self) -> bool:
        """True once the collection has been created (by `ensure`)."""

    @abstractmethod
    def ensure(self, fingerprint: str, embedder: dict[str, Any], dim: int) -> None:
        """Create the collection for this embedder, or check that the existing one was made by the same one."""

    @abstractmethod
    def metadata(self) -> dict[str, Any]:
        """The collection's metadata: `fingerprint`, `embedder` (empty when it does not exist)."""

    @abstractmethod
    def close(self) -> None:
        """Release the store (the embedded folder's lock, the server connection)."""

    def __enter__(self) -> Collection:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def fingerprint(self) -> str | None:
        value = self.metadata().get("fingerprint")
        return str(value) if value is not None else None

    def check_fingerprint(self, fingerprint: str) -> None:
        """Refuse, with both fingerprints named, when the collection was made by another embedder."""
        if not self.exists():
            raise CollectionNotFoundError(
                f"collection {self.name!r} does not exist in {self.location}: run `ingest PATH` first"
            )
        stored = self.fingerprint()
        if stored != fingerprint:
            raise FingerprintMismatchError(
                f"collection {self.name!r} was built by embedder {stored!r}, but this one is {fingerprint!r}. "
                "Use the same model and templates, or choose another collection "
                "with --collection / ECHO_SEARCH_COLLECTION."
            )

    # -- writes -----------------------------------------------------------------------------------------------
    @abstractmethod
    def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Write `points` (searchable when this returns), then bump the generation."""

    @abstractmethod
    def delete_source(self, source: str, keep: Sequence[str] = ()) -> None:
        """Delete the points of `source` except the ids in `keep`, then bump the generation."""

    @abstractmethod
    def set_payload(self, payload: dict[str, Any], ids: Sequence[str]) -> None:
        """Set payload fields of the points `ids`, then bump the generation."""

    def optimize(self) -> bool:
        """Build the search index where the backend leaves that to the caller (after an ingest); True if it did
        work. Only segments that need it are rebuilt: a small incremental write does not rebuild the index."""
        return False

    # -- reads ------------------------------------------------------------------------------------------------
    @abstractmethod
    def generation(self) -> int:
        """The write generation: equal values mean equal contents. 0 when the collection does not exist."""

    @abstractmethod
    def count(self) -> int:
        """Exact number of points (0 when the collection does not exist)."""

    @abstractmethod
    def sources(self) -> list[str]:
        """The distinct source paths, sorted (empty when nothing is ingested)."""

    @abstractmethod
    def payloads(self, fields: Sequence[str] | None = None, page: int = 2048) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, payload) of every point, restricted to `fields` when given, without vectors, page by page."""

    def query(
        self, vectors: Mapping[str, np.ndarray], k: int, filter: FilterLike = None
    ) -> dict[str, list[list[StoredHit]]]:
        """Nearest neighbours of each row of each named vector's matrix ({"echo": (n, d) array, ...}), best first,
        at most `k` each: {name: one list of hits per row}. One engine call for the whole batch."""
        where = QueryFilter.parse(filter)
        asks = [(name, row) for name in vectors for row in np.asarray(vectors[name], dtype=np.float32)]
        answers = iter(self._search(asks, k, where) if asks else [])
        return {name: [next(answers) for _ in range(len(vectors[name]))] for name in vectors}

    @abstractmethod
    def _search(self, asks: list[tuple[str, np.ndarray]], k: int, where: QueryFilter | None) -> list[list[StoredHit]]:
        """The hits of each (vector name, query vector) pair, best first, from one engine call."""

    def check(self) -> int:
        """Read every point once (`search info --check`) and return how many; `StoreDamagedError` says what cannot
        be read. The embedded store reads vectors and payloads; a server, which checks its own storage, payloads."""
        return sum(1 for _ in self.payloads())

    @abstractmethod
    def index_info(self) -> tuple[str, int, int]:
        """(index state, indexed vectors, segments): see `CollectionInfo.index`."""

    def info(self) -> CollectionInfo:
        meta = self.metadata()
        if not meta:
            return CollectionInfo(self.name, self.location, 0, None, {})
        index, indexed, segments = self.index_info()
        return CollectionInfo(self.name, self.location, self.count(), meta.get("fingerprint"),
                              dict(meta.get("embedder") or {}), index, indexed, segments)


def embedded_folder(path: str | os.PathLike[str] | None, data_dir: str | os.PathLike[str] | None) -> Path:
    """The embedded store's folder: `path`, else `qdrant/` under `data_dir` (default `default_data_dir()`)."""
    return Path(path).expanduser() if path else Path(data_dir or default_data_dir()).expanduser() / "qdrant"
