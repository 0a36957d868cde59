"""`Collection`: the typed API every other module uses to read and write chunks; `search.store.factory.open_collection`
picks the implementation.

Two store implementations subclass it: `EdgeCollection`, Qdrant's engine in-process on a local folder (the default), and
`ServerCollection`, a Qdrant server (`--qdrant-url` / `$QDRANT_URL`). Only this package imports a Qdrant package.
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

import numpy as np

from search.store import bm25
from search.store.errors import CollectionNotFoundError, FingerprintMismatchError, MissingBm25Error
from search.store.filters import QueryFilter
from search.store.fusion import Fusion
from search.store.schema import (
    BM25_META,
    CHUNK_INDEX,
    ECHO,
    HYBRID,
    N_CHUNKS,
    RANKINGS,
    SOURCE,
    TEXT,
    TEXT_RANKINGS,
    VECTOR_NAMES,
    Ask,
    ChunkPoint,
    ChunkRecord,
    CollectionInfo,
    StoredHit,
)

BACKFILL_PAGE = 1024
"""Points per write when `ensure_bm25` adds BM25 vectors to an existing collection."""


def next_generation(current: int) -> int:
    """A new write generation: the clock in nanoseconds, and always above `current`.

    Not `current + 1`: two writers that read the same value would write the same next one, and a restarted
    process would hand out values a reader already saw. Clock values never repeat that way."""
    return max(time.time_ns(), current + 1)


class Collection(ABC):
    """One collection of chunk points: two dense named vectors (echo, classical), a sparse one (bm25, computed here
    from the payload's text) and a payload per point.

    A write (`upsert`, `delete_source`, `set_chunk_count`) returns once it is searchable, and then changes
    `generation()`, so a reader that caches answers can tell they are stale even when the point count is the same.
    """

    name: str
    location: str
    index_seconds: float = 0.0
    """Time this object spent building the search index (`optimize`), for reports and benchmarks."""
    fusion: Fusion = Fusion()
    """How `hybrid` queries fuse echo and BM25 (`open_collection` sets it)."""
    _bm25_ready: bool = False
    """`has_bm25()` was found true once (it cannot become false again): not asked of a server on every query."""

    # -- lifecycle --------------------------------------------------------------------------------------------
    @abstractmethod
    def exists(self) -> bool:
        """True once the collection has been created (by `ensure`)."""

    @abstractmethod
    def ensure(self, fingerprint: str, embedder: dict[str, Any], dim: int) -> None:
        """Create the collection for this embedder, or check that the existing one was made by the same one and
        give it BM25 vectors if it has none yet (`ensure_bm25`)."""

    @abstractmethod
    def metadata(self) -> dict[str, Any]:
        """The collection's metadata: `fingerprint`, `embedder` (empty when it does not exist)."""

    @abstractmethod
    def drop(self) -> None:
        """Delete the collection with every point and its metadata (`ingest --rebuild`); a no-op when missing."""

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
            raise self._missing()
        stored = self.fingerprint()
        if stored != fingerprint:
            raise FingerprintMismatchError(
                f"collection {self.name!r} was built by embedder {stored!r}, but this one is {fingerprint!r}. "
                "Rebuild it with this embedder: `ingest PATH... --rebuild` (deletes the collection and embeds PATH "
                "again; needed after an upgrade that changed a model's default layer or classical vectors). Or keep "
                "it: use the embedder that made it (its model, ECHO_SEARCH_LAYER for its layer, "
                "ECHO_SEARCH_CLASSICAL=separate for a collection whose classical vectors had their own pass), or "
                "choose another collection with --collection / ECHO_SEARCH_COLLECTION."
            )

    # -- writes -----------------------------------------------------------------------------------------------
    @abstractmethod
    def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Write `points` (searchable when this returns), then bump the generation."""

    @abstractmethod
    def delete_source(self, source: str, keep: Sequence[str] = ()) -> None:
        """Delete the points of `source` except the ids in `keep`, then bump the generation."""

    def set_chunk_count(self, ids: Sequence[str], n_chunks: int) -> None:
        """Set the records' `n_chunks` of the points `ids` (a streamed file's count, known at its end), then bump the
        generation."""
        self._set_payload({N_CHUNKS: n_chunks}, ids)

    @abstractmethod
    def _set_payload(self, payload: dict[str, Any], ids: Sequence[str]) -> None:
        """Set payload fields of the points `ids`, then bump the generation."""

    def has_bm25(self) -> bool:
        """True when every point has its BM25 vector, made with this version's configuration (`search.store.bm25`)."""
        if not self._bm25_ready:
            self._bm25_ready = self.metadata().get(BM25_META) == bm25.DESCRIPTION
        return self._bm25_ready

    def ensure_bm25(self, progress: Callable[[int], None] | None = None) -> int:
        """Give every point the BM25 vector of its stored text, when the collection was made before BM25 (or with
        another BM25 configuration): nothing is embedded again and the dense vectors stay as they are. Returns the
        number of points written (0 when there was nothing to do); `progress` gets the running count.

        Safe to interrupt: the collection is marked complete (`has_bm25`) only after the last point, and a rerun
        writes every point again."""
        if not self.exists() or self.has_bm25():
            return 0
        self._add_sparse_vector()
        done, batch = 0, []
        for pid, payload in self._payloads([TEXT], page=BACKFILL_PAGE):
            batch.append((pid, str(payload.get(TEXT, ""))))
            if len(batch) == BACKFILL_PAGE:
                self._write_bm25(batch)
                done += len(batch)
                batch = []
                if progress:
                    progress(done)
        if batch:
            self._write_bm25(batch)
            done += len(batch)
        self._set_metadata(BM25_META, bm25.DESCRIPTION)
        self._bm25_ready = True
        if progress:
            progress(done)
        return done

    @abstractmethod
    def _add_sparse_vector(self) -> None:
        """Add the `bm25` sparse vector (IDF modifier) to the collection's layout, unless it is there."""

    @abstractmethod
    def _write_bm25(self, texts: list[tuple[str, str]]) -> None:
        """Set the BM25 vector of each (point id, text), leaving the dense vectors and the payload alone."""

    @abstractmethod
    def _set_metadata(self, key: str, value: Any) -> None:
        """Set one key of the collection's metadata (kept with the collection, written atomically)."""

    def optimize(self) -> bool:
        """Build the search index where the store implementation leaves that to the caller (after an ingest); True if
        it did work. Only segments that need it are rebuilt: a small incremental write does not rebuild the index."""
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

    def records(self, *, with_text: bool = True, page: int = 2048) -> Iterator[tuple[str, ChunkRecord]]:
        """(id, record) of every point, without vectors, page by page. `with_text=False` leaves the records' text
        empty and reads less (ingest's bookkeeping needs every point but no text)."""
        wanted = None if with_text else [f.name for f in dataclasses.fields(ChunkRecord) if f.name != TEXT]
        for pid, payload in self._payloads(wanted, page):
            yield pid, ChunkRecord.from_dict(payload)

    def chunks(self, source: str, first: int = 0, last: int | None = None) -> list[ChunkRecord]:
        """The chunks of `source` whose index is from `first` to `last` (inclusive; None: to its end), in order: a
        document, or a chunk's neighbours, read back as stored. Empty when `source` has none there;
        `CollectionNotFoundError` when the collection does not exist."""
        if not self.exists():
            raise self._missing()
        span = {"gte": first} if last is None else {"gte": first, "lte": last}
        where = QueryFilter.parse({"must": [{"key": SOURCE, "match": {"value": source}},
                                            {"key": CHUNK_INDEX, "range": span}]})
        records = [ChunkRecord.from_dict(payload) for _, payload in self._payloads(where=where)]
        return sorted(records, key=lambda record: record.chunk_index)

    def _missing(self) -> CollectionNotFoundError:
        return CollectionNotFoundError(
            f"collection {self.name!r} does not exist in {self.location}: run `ingest PATH` first"
        )

    @abstractmethod
    def _payloads(self, fields: Sequence[str] | None = None, page: int = 2048,
                  where: QueryFilter | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        """(id, payload) of every point (that `where` matches, when given), restricted to `fields` when given,
        without vectors, page by page."""

    @abstractmethod
    def sample_vectors(self, names: Sequence[str], n: int) -> dict[str, np.ndarray]:
        """Up to `n` points' vectors of each name in `names`, as (m, dim) float32 matrices with rows in the same
        point order. The points are the first `n` in id order; ids are hashes (`point_id`), so they are a fair
        sample of the collection."""

    def query(
        self,
        vectors: Mapping[str, np.ndarray],
        k: int,
        filter: QueryFilter | None = None,
        *,
        texts: Sequence[str] | None = None,
        rankings: Iterable[str] | None = None,
    ) -> dict[str, list[list[StoredHit]]]:
        """The best hits, at most `k` each, for every query and ranking: {ranking: one list of hits per query}.
        One engine call for the whole batch.

        `rankings` (default: the names in `vectors`) are among `RANKINGS`: "echo" and "classical" rank by the
        nearest neighbours of each row of `vectors[name]` (an (n, d) matrix); "bm25" by BM25 of `texts` (the n
        query texts); "hybrid" fuses echo (`vectors["echo"]`) and BM25 (`texts`) in the engine, as `fusion` says.
        `filter` (parsed where the request entered: `QueryFilter.parse`) limits every ranking to the chunks it
        matches. `MissingBm25Error` when a text ranking is asked of a collection without BM25 vectors."""
        wanted = list(dict.fromkeys(rankings if rankings is not None else vectors))
        asks: dict[str, list[Ask]] = {}
        for ranking in wanted:
            if ranking not in RANKINGS:
                raise ValueError(f"unknown ranking {ranking!r}: one of {', '.join(RANKINGS)}")
            dense = ECHO if ranking == HYBRID else ranking if ranking in VECTOR_NAMES else None
            if dense is not None and dense not in vectors:
                raise ValueError(f"the {ranking!r} ranking needs the {dense!r} query vectors")
            if ranking in TEXT_RANKINGS and texts is None:
                raise ValueError(f"the {ranking!r} ranking needs the query texts")
            rows = list(np.asarray(vectors[dense], dtype=np.float32)) if dense is not None else None
            n = len(rows) if rows is not None else len(texts or [])
            asks[ranking] = [Ask(ranking, rows[i] if rows is not None else None,
                                 texts[i] if texts is not None and ranking in TEXT_RANKINGS else None)
                             for i in range(n)]
        if any(r in TEXT_RANKINGS for r in asks) and not self.has_bm25():
            raise MissingBm25Error(
                f"collection {self.name!r} in {self.location} has no BM25 vectors yet (it was made before them): "
                "run `ingest` on it again to add them from the stored text (nothing is embedded again)"
            )
        flat = [ask for ranking in wanted for ask in asks[ranking]]
        answers = iter(self._search(flat, k, filter) if flat else [])
        return {ranking: [next(answers) for _ in asks[ranking]] for ranking in wanted}

    @abstractmethod
    def _search(self, asks: list[Ask], k: int, where: QueryFilter | None) -> list[list[StoredHit]]:
        """The hits of each ask, best first, from one engine call."""

    def check(self) -> int:
        """Read every point once (`search info --check`) and return how many; `StoreDamagedError` says what cannot
        be read. The embedded store reads vectors and payloads; a server, which checks its own storage, payloads."""
        return sum(1 for _ in self._payloads())

    @abstractmethod
    def index_info(self) -> tuple[str, int, int]:
        """(index state, indexed vectors, segments): see `CollectionInfo.index`."""

    def info(self) -> CollectionInfo:
        """What the collection holds, with its write generation read first (so that an answer a reader keeps under
        it is never one from before a later write)."""
        generation = self.generation()
        meta = self.metadata()
        if not meta:
            return CollectionInfo(self.name, self.location, generation=generation)
        index, indexed, segments = self.index_info()
        return CollectionInfo(self.name, self.location, self.count(), self.sources(), meta.get("fingerprint"),
                              dict(meta.get("embedder") or {}), index, indexed, segments, generation)
