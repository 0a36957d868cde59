"""The embedded default: Qdrant's own engine in-process (`qdrant-edge-py`) on a local folder.

Layout of the folder (one process at a time holds it):
    echo-search-store.json       format marker
    .lock                        held (flock) by the process that has the folder open
    collections/<name>/shard/    the engine's shard: segments, HNSW indexes, payload index, write-ahead log
    collections/<name>/collection.json   what the engine does not keep: fingerprint, embedder, dimension
                                         (written atomically, after the shard exists)

Index settings were chosen with `bench/store.py` (numbers in docs/benchmarks.md "Store"); see the constants below.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np
import qdrant_edge as edge

from search.store import bm25
from search.store.collection import Collection, next_generation
from search.store.edge.integrity import shard_problem
from search.store.edge.layout import FORMAT, MARKER, old_format_message
from search.store.edge.space import DiskSpace, allocate_holes, is_no_space
from search.store.errors import (
    CollectionNotFoundError,
    OldFormatError,
    StoreDamagedError,
    StoreError,
    StoreLockedError,
)
from search.store.filters import QueryFilter
from search.store.qdrant_filters import client_to_edge, source_is
from search.store.schema import (
    BM25,
    BM25_META,
    CHUNK_INDEX,
    CONTENT_HASH,
    ECHO,
    HYBRID,
    N_CHUNKS,
    SOURCE,
    VECTOR_NAMES,
    Ask,
    ChunkPoint,
    ChunkRecord,
    StoredHit,
)
from search.validation import check_collection_name

HNSW_M = 16
"""Graph degree, with `HNSW_EF_CONSTRUCT` and `HNSW_EF` chosen by `bench/store.py --hnsw` at 100k points:
m/ef_construct/ef 8/64/64 built in 14.6 s with recall@10 0.973; 16/100/128 in 26.1 s with 1.000 (also 1.000 at
1M); 32/200/128 took 68.4 s for no better recall and slower queries."""
HNSW_EF_CONSTRUCT = 100
HNSW_EF = 128
"""Search-time candidate list; raised to k when k is larger."""
OVERSAMPLING = 2.0
"""int8 candidates fetched per wanted hit, then rescored with the float vectors: recall@10 0.95 without, 1.0 with,
at the same latency (100k points)."""
INT8_MEMORY = edge.Memory.Cold
"""Where the int8 copies live: memory-mapped and read on demand (`Cold`), or read into RAM at open (`Pinned`).
At 1M points a serving process opens in 1.16 s and answers in 3.35 / 4.45 ms (p50 / p95, warm) with 276 MB of its
own memory (`bench/store.py --points 1000000 --drop-caches`); fixed in a segment when it is built."""
VACUUM_MIN_VECTORS = 1
"""Segments of any size are vacuumed (rewritten without their deleted points) by `optimize` once 20 % of their points
are deleted (the engine's `deleted_threshold`); the engine's default spares segments under 1,000 vectors. Deleted
and replaced points count in BM25's document frequencies until their segment is vacuumed, and a small segment is
cheap to rewrite (it has no HNSW graph), so the IDF of a small collection follows its deletes at the next `optimize`
(every `ingest` ends with one)."""
SPARSE_MEMORY = edge.Memory.Cold
"""Where the BM25 inverted index lives: memory-mapped like the rest (`Cold`; not measured against `Pinned`)."""
INDEXING_THRESHOLD_KB = 10_000
"""Segments smaller than this (about 2,000 points of two 640-d vectors) stay unindexed and are scanned exactly."""
SEGMENT_POINTS = 100_000
"""Largest segment, in points. The engine has no background optimizer in-process: `upsert` builds the index of the
points written since the last build once there are this many (about 27 s for 100k points of two 640-d vectors on
2 cores), so a bulk ingest is indexed as it goes in bounded pieces, never one giant build at the end (a single
1M-point segment build died, killed without a message, on a 24 GB machine)."""


@dataclass(frozen=True)
class IndexTuning:
    """How the dense vectors are indexed and searched: the HNSW graph's degree `m` and build-time candidate list
    `ef_construct` (fixed when a collection is created), the search-time list `ef`, and where the int8 copies live.
    The defaults are the product's (measured: see the constants above); `bench/store.py --hnsw` sweeps others."""

    m: int = HNSW_M
    ef_construct: int = HNSW_EF_CONSTRUCT
    ef: int = HNSW_EF
    int8_memory: edge.Memory = field(default_factory=lambda: INT8_MEMORY)  # the engine's enum is unhashable

    def describe(self) -> str:
        """"m,ef_construct,ef", as `bench/store.py --hnsw` takes it."""
        return f"{self.m},{self.ef_construct},{self.ef}"


DEFAULT_INDEX = IndexTuning()

PAYLOAD_INDEXES = {SOURCE: edge.PayloadSchemaType.Keyword}
"""The payload indexes every collection has: listing the sources (a facet) needs the one of `source`."""

_SMALL_WRITE_BYTES = 1 << 20
"""What a delete or payload update may write (its record in the write-ahead log), with room to spare."""
_CREATE_BYTES = 8 << 20
"""What creating a collection writes (the write-ahead log and segments are sparse until written)."""


def _config(dim: int, index: IndexTuning) -> edge.EdgeConfig:
    """Named vectors with dot product (rows are L2-normalised: scores are cosines), an HNSW graph per vector
    searched with int8 copies of the vectors and rescored with the float originals, the write-ahead log on.

    Vectors, their int8 copies and the payload are memory-mapped files read on demand (`Memory.Cold`): the OS
    page cache keeps what queries touch, and opening a collection reads none of it. Measured at 100k points
    (bench/store.py's data): reopen 0.14 s, against 2.2 s with the int8 copies read in at open (`Cached`) and
    3.0 s held in RAM (`Pinned`), with the same query times once warm (0.4-0.6 ms) and recall 1.0."""
    vector = edge.EdgeVectorParams(size=dim, distance=edge.Distance.Dot, memory=edge.Memory.Cold)
    segment_kb = SEGMENT_POINTS * dim * 4 * len(VECTOR_NAMES) // 1024
    return edge.EdgeConfig(
        vectors={name: vector for name in VECTOR_NAMES},
        sparse_vectors={BM25: edge.EdgeSparseVectorParams(modifier=edge.Modifier.Idf, memory=SPARSE_MEMORY)},
        hnsw_config=edge.HnswIndexConfig(m=index.m, ef_construct=index.ef_construct,
                                         full_scan_threshold=INDEXING_THRESHOLD_KB),
        quantization_config=edge.ScalarQuantizationConfig(type=edge.ScalarType.Int8, quantile=0.99,
                                                          memory=index.int8_memory),
        optimizers=edge.EdgeOptimizersConfig(indexing_threshold=INDEXING_THRESHOLD_KB, max_segment_size=segment_kb,
                                             vacuum_min_vector_number=VACUUM_MIN_VECTORS),
        payload_memory=edge.Memory.Cold,
    )


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write `data` to `path` atomically: a crash leaves the old file or the new one, never half of one."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=1)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _lock(folder: Path) -> IO[str]:
    """Hold `folder`'s lock for this process (released by the OS when the process ends, even by kill -9)."""
    handle = (folder / ".lock").open("a")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StoreLockedError(
            f"the embedded store at {folder} is in use by another process (the embedded store allows one at a "
            "time). Stop that process (an `ingest --watch`, `search serve` or the UI), or run a Qdrant server "
            "and point both at it with --qdrant-url / QDRANT_URL."
        ) from None
    return handle


class EdgeCollection(Collection):
    """A collection in the embedded store: Qdrant's engine, in this process."""

    def __init__(self, folder: Path, name: str, lock: IO[str] | None, space: DiskSpace | None = None,
                 index: IndexTuning = DEFAULT_INDEX) -> None:
        self.name = name
        self.index = index
        self._space = space or DiskSpace(folder, 0)
        self._dirty = False  # written since opened: the shard's new holes are allocated at close
        self.location = str(folder)
        self._lock_handle: IO[str] | None = lock
        self._dir = folder / "collections" / name
        self._shard_dir = self._dir / "shard"
        self._meta_path = self._dir / "collection.json"
        self._meta: dict[str, Any] = {}
        self._shard: edge.EdgeShard | None = None
        self._generation = next_generation(0)
        self._write_lock = threading.Lock()
        self._unindexed = 0  # points written since the last index build
        if self._meta_path.exists():
            self._meta = self._read_meta()
            if not self._shard_dir.is_dir():
                raise self._damaged("its collection.json is there but its data (the shard/ folder) is missing")
            if problem := shard_problem(self._shard_dir):  # before the engine maps (and writes into) a short file
                raise self._damaged(f"a file is shorter than its recorded contents ({problem})")
            self._shard = self._load(self._shard_dir)
            try:
                self._restore_indexes()
            except BaseException:
                self._shard.close()
                self._shard = None
                raise
        elif self._shard_dir.exists() and self._orphan_points() != 0:
            raise self._damaged("its data (the shard/ folder) is there but its collection.json is missing, so "
                                "which model made it is unknown")

    @classmethod
    def open_folder(cls, folder: Path, name: str, min_free_mb: float = 0,
                    index: IndexTuning = DEFAULT_INDEX) -> EdgeCollection:
        """Open collection `name` of the embedded store at `folder` (created if missing) and hold its lock; writes
        that would leave less than `min_free_mb` free on its disk raise `StoreFullError` (`search.store.edge.space`).
        `index`: how a collection created here is indexed, and how queries search it."""
        check_collection_name(name)  # a folder of the store: never a path that reaches outside it
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise StoreError(f"the embedded store's folder {folder} cannot be made: a file is in the way (choose "
                             "another --data-dir)") from None
        if message := old_format_message(folder):
            raise OldFormatError(message)
        lock = _lock(folder)
        space = DiskSpace(folder, min_free_mb)
        try:
            space.before_open()
            if not (folder / MARKER).exists():
                try:
                    _write_json(folder / MARKER, FORMAT)
                except OSError as exc:
                    if is_no_space(exc):
                        raise space.full("cannot create the store") from None
                    raise
            return cls(folder, name, lock, space, index)
        except BaseException:
            lock.close()
            raise

    def _damaged(self, what: str) -> StoreDamagedError:
        """The refusal for a damaged collection: what is wrong, where, and what to do (nothing is changed)."""
        return StoreDamagedError(
            f"the embedded store's collection {self.name!r} at {self._dir} is damaged: {what}. Nothing was changed. "
            f"The documents are the source of truth: move {self._dir} aside and run `ingest` on them again, or "
            "restore a backup (`search restore`).", reason=what
        )

    def _read_meta(self) -> dict[str, Any]:
        """collection.json, checked: a truncated or garbled one is damage, not a bug."""
        try:
            meta = json.loads(self._meta_path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise self._damaged(f"its collection.json cannot be read ({exc})") from None
        if not (isinstance(meta, dict) and isinstance(meta.get("fingerprint"), str)
                and isinstance(meta.get("dim"), int) and isinstance(meta.get("embedder"), dict)):
            raise self._damaged("its collection.json lacks the fingerprint, embedder or dimension")
        return meta

    def _orphan_points(self) -> int | None:
        """Points in a shard that has no collection.json: 0 for the empty shard a crash between creating it and
        writing collection.json leaves (`ensure` may replace it), None when it cannot be opened (not provably
        empty)."""
        try:
            shard = edge.EdgeShard.load(str(self._shard_dir))
        except Exception:  # the engine raises a bare Exception
            return None
        try:
            return int(shard.count(edge.CountRequest(exact=True)))
        finally:
            shard.close()

    def _restore_indexes(self) -> None:
        """Build again a payload index the product needs (`PAYLOAD_INDEXES`) that the shard lacks, as after a lost
        segment whose points the write-ahead log replayed; only once every point reads back and no file's chunks are
        missing (`check`), else `StoreDamagedError`: what is there is never written to."""
        with self._reading():
            present = self.shard.info().payload_schema
        missing = [key for key in PAYLOAD_INDEXES if key not in present]
        if not missing:
            return
        self.check()
        for key in missing:
            self._apply(edge.UpdateOperation.create_field_index(key, PAYLOAD_INDEXES[key]))
        self.shard.flush()

    def _load(self, shard_dir: Path) -> edge.EdgeShard:
        try:
            return edge.EdgeShard.load(str(shard_dir))
        except Exception as exc:  # the engine raises a bare Exception with its message
            # Only the text tells a shard another process holds: qdrant-edge-py 0.9 raises a bare Exception with no
            # errno, code or subclass ("... Can't init WAL: Kind(WouldBlock)"). Our own lock (`_lock`) is matched by
            # type; this covers a shard opened by something that bypassed it.
            if "Kind(WouldBlock)" in str(exc):
                raise StoreLockedError(f"the embedded store's shard at {shard_dir} is in use by another process") \
                    from exc
            if is_no_space(exc):
                raise self._space.full("opening the collection needs a little space") from exc
            raise self._damaged(f"its data (the shard/ folder) cannot be opened ({exc})") from exc

    @property
    def shard(self) -> edge.EdgeShard:
        if self._shard is None:
            raise CollectionNotFoundError(
                f"collection {self.name!r} does not exist in {self.location}: run `ingest PATH` first"
            )
        return self._shard

    # -- lifecycle --------------------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self._shard is not None

    def metadata(self) -> dict[str, Any]:
        return dict(self._meta)

    def ensure(self, fingerprint: str, embedder: dict[str, Any], dim: int) -> None:
        if self.exists():
            self.check_fingerprint(fingerprint)
            self.ensure_bm25()
            self._space.keep_reserve()
            return
        if self._shard_dir.exists():  # a crash between creating the shard and writing collection.json
            if self._orphan_points() != 0:  # never delete data: only a shard proven empty is replaced
                raise self._damaged("its data (the shard/ folder) is there but its collection.json is missing")
            shutil.rmtree(self._shard_dir)
        self._space.check(_CREATE_BYTES)
        self._dir.mkdir(parents=True, exist_ok=True)
        try:
            shard = edge.EdgeShard.create(str(self._shard_dir), _config(dim, self.index))
            for key, kind in PAYLOAD_INDEXES.items():
                shard.update(edge.UpdateOperation.create_field_index(key, kind))
            shard.flush()
            meta = {"fingerprint": fingerprint, "embedder": embedder, "dim": dim, BM25_META: bm25.DESCRIPTION}
            _write_json(self._meta_path, meta)
        except Exception as exc:
            if is_no_space(exc):
                raise self._space.full("creating the collection") from exc
            raise
        self._meta, self._shard, self._dirty = meta, shard, True
        self._space.keep_reserve()

    def drop(self) -> None:
        with self._write_lock:
            if self._shard is not None:
                self._shard.close()
                self._shard = None
            self._meta = {}
            self._unindexed = 0
            if self._dir.exists():
                shutil.rmtree(self._dir)
            self._generation = next_generation(self._generation)

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None
            if self._dirty:  # so that a later open never writes into a hole of a full disk
                allocate_holes(self._shard_dir)
                self._space.keep_reserve()
        if self._lock_handle is not None:
            self._lock_handle.close()
            self._lock_handle = None

    # -- writes -----------------------------------------------------------------------------------------------
    def _apply(self, operation: edge.UpdateOperation, need: int = _SMALL_WRITE_BYTES) -> None:
        """Apply a write of about `need` bytes, refused with `StoreFullError` before the engine sees it when the
        disk would be left with less than the minimum free."""
        with self._write_lock:
            self._space.check(need)
            self._dirty = True
            try:
                self.shard.update(operation)
            except Exception as exc:
                if is_no_space(exc):
                    raise self._space.full("the engine could not write") from exc
                raise
            self._generation = next_generation(self._generation)

    def upsert(self, points: Sequence[ChunkPoint]) -> None:
        """Write `points`; once `SEGMENT_POINTS` were written since the last index build, build it (see there)."""
        if not points:
            return
        sparse = self.has_bm25()
        payloads = [p.record.as_dict() for p in points]
        need = sum(3 * 4 * sum(np.size(v) for v in p.vectors.values()) + 2 * len(str(payload))
                   for p, payload in zip(points, payloads, strict=True))
        self._apply(edge.UpdateOperation.upsert_points([
            edge.Point(p.id, {**{name: np.asarray(v, dtype=np.float32).tolist() for name, v in p.vectors.items()},
                              **({BM25: bm25.document_vector(p.record.text)} if sparse else {})},
                       payload)
            for p, payload in zip(points, payloads, strict=True)
        ]), _SMALL_WRITE_BYTES + need)
        self._wrote(len(points))

    def _wrote(self, points: int) -> None:
        self._unindexed += points
        if self._unindexed >= SEGMENT_POINTS:
            self.optimize()

    def _add_sparse_vector(self) -> None:
        self._apply(edge.UpdateOperation.create_sparse_vector(BM25, modifier=edge.Modifier.Idf))  # idempotent

    def _write_bm25(self, texts: list[tuple[str, str]]) -> None:
        self._apply(edge.UpdateOperation.update_vectors(
            [edge.PointVectors(pid, {BM25: bm25.document_vector(text)}) for pid, text in texts]
        ))
        self._wrote(len(texts))  # the engine writes each updated point anew: its dense vectors need indexing again

    def _set_metadata(self, key: str, value: Any) -> None:
        with self._write_lock:
            self.shard.flush()  # the points first: the mark must never be on disk before what it vouches for
            meta = {**self._meta, key: value}
            _write_json(self._meta_path, meta)
            self._meta = meta
            self._generation = next_generation(self._generation)

    def delete_source(self, source: str, keep: Sequence[str] = ()) -> None:
        self._apply(edge.UpdateOperation.delete_points_by_filter(client_to_edge(source_is(source, keep))))

    def _set_payload(self, payload: dict[str, Any], ids: Sequence[str]) -> None:
        if ids:
            self._apply(edge.UpdateOperation.set_payload(list(ids), payload))

    def optimize(self) -> bool:
        start = time.perf_counter()
        with self._write_lock:
            info = self.shard.info()
            unindexed = info.points_count * len(VECTOR_NAMES) - int(info.indexed_vectors_count)
            need = 3 * 4 * unindexed * int(self._meta.get("dim", 0))  # the new segment: vectors, int8 copies, graph
            if need > INDEXING_THRESHOLD_KB * 1024:  # below it, nothing is indexed
                self._space.check(need)
            self._dirty = True
            try:
                changed = bool(self.shard.optimize())
                self.shard.flush()
            except Exception as exc:
                if is_no_space(exc):
                    raise self._space.full("building the search index") from exc
                raise
            self._unindexed = 0
        self.index_seconds += time.perf_counter() - start
        return changed

    # -- reads ------------------------------------------------------------------------------------------------
    def generation(self) -> int:
        return self._generation if self.exists() else 0

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """Engine errors while reading: an internal ("Service runtime") error means a damaged file, said as such
        with what to do; a full disk as `StoreFullError`; anything else (a bad request) as it is."""
        try:
            yield
        except Exception as exc:  # the engine raises a bare Exception with its message
            if is_no_space(exc):
                raise self._space.full("the engine could not read") from exc
            if "Service runtime error" in str(exc):
                raise self._damaged(f"its data cannot be read ({exc})") from exc
            raise

    def count(self) -> int:
        if not self.exists():
            return 0
        with self._reading():
            return int(self.shard.count(edge.CountRequest(exact=True)))

    def sources(self) -> list[str]:
        if not self.exists():
            return []
        with self._reading():
            hits = self.shard.facet(edge.FacetRequest(key=SOURCE, limit=1_000_000, exact=True))
        return sorted(str(h.value) for h in hits if h.count > 0)  # exact facets list deleted values with 0

    def _payloads(self, fields: Sequence[str] | None = None, page: int = 2048,
                  where: QueryFilter | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
        if not self.exists():
            return
        offset: Any = None
        flt = where.to_edge() if where else None
        while True:
            with self._reading():
                records, offset = self.shard.scroll(edge.ScrollRequest(
                    offset=offset, limit=page, filter=flt, with_payload=list(fields) if fields is not None else True,
                    with_vector=False,
                ))
            for r in records:
                yield str(r.id), dict(r.payload or {})
            if offset is None:
                return

    def sample_vectors(self, names: Sequence[str], n: int) -> dict[str, np.ndarray]:
        records = self.shard.scroll(edge.ScrollRequest(limit=n, with_payload=False, with_vector=list(names)))[0] \
            if self.exists() and n > 0 else []
        vectors = [r.vector if isinstance(r.vector, dict) else {} for r in records]
        return {name: np.asarray([v[name] for v in vectors], dtype=np.float32).reshape(len(records), -1)
                for name in names}

    def _search(self, asks: list[Ask], k: int, where: QueryFilter | None) -> list[list[StoredHit]]:
        flt = where.to_edge() if where else None
        requests = [self._request(ask, k, flt) for ask in asks]
        with self._reading():
            answers = self.shard.query_batch(edge.QueryBatchRequest(requests))
        return [[StoredHit(str(p.id), float(p.score), ChunkRecord.from_dict(p.payload or {})) for p in points]
                for points in answers]

    def check(self, page: int = 512) -> int:
        """Read every point once, vectors and payload (`search info --check`); `StoreDamagedError` names a file
        that cannot be read, a vector that is not numbers, or a file whose chunks are not all there (fewer points of
        its content than the `n_chunks` they record). Returns the number of points read."""
        if not self.exists():
            return 0
        seen, offset = 0, None
        chunks: dict[tuple[str, str], tuple[int, set[Any]]] = {}  # (source, content) -> (n_chunks, indexes seen)
        while True:
            with self._reading():
                records, offset = self.shard.scroll(edge.ScrollRequest(offset=offset, limit=page, with_payload=True,
                                                                       with_vector=True))
            for r in records:
                vectors = r.vector if isinstance(r.vector, dict) else {}
                for name in VECTOR_NAMES:
                    vector = vectors.get(name)
                    if not isinstance(vector, list) or len(vector) != self._meta["dim"]:
                        raise self._damaged(f"point {r.id} lacks its {name} vector or has one of the wrong size")
                    if not np.isfinite(vector).all():
                        raise self._damaged(f"the {name} vector of point {r.id} holds values that are not numbers")
                payload = r.payload or {}
                if isinstance(n_chunks := payload.get(N_CHUNKS), int) and n_chunks >= 0:
                    content = (str(payload.get(SOURCE)), str(payload.get(CONTENT_HASH)))
                    chunks.setdefault(content, (n_chunks, set()))[1].add(payload.get(CHUNK_INDEX))
            seen += len(records)
            if offset is None:
                break
        if seen != self.count():
            raise self._damaged(f"{self.count()} points are counted but {seen} could be read")
        for (source, _), (n_chunks, indexes) in sorted(chunks.items()):
            if len(indexes) < n_chunks:
                raise self._damaged(f"{n_chunks - len(indexes)} of the {n_chunks} chunks of {source} are missing")
        return seen

    def _request(self, ask: Ask, k: int, flt: edge.Filter | None) -> edge.QueryRequest:
        """One ask as an engine query: a nearest-neighbour search, or two prefetches fused (`HYBRID`)."""
        if ask.ranking == BM25:
            return edge.QueryRequest(limit=k, query=edge.Query.Nearest(bm25.query_vector(ask.text or ""), using=BM25),
                                     filter=flt, with_payload=True)
        assert ask.vector is not None
        if ask.ranking != HYBRID:
            return edge.QueryRequest(limit=k, query=edge.Query.Nearest(ask.vector.tolist(), using=ask.ranking),
                                     filter=flt, with_payload=True, params=_dense_params(k, self.index.ef))
        fusion = self.fusion
        limit = k * fusion.prefetch
        prefetches = [
            edge.Prefetch(limit=limit, query=edge.Query.Nearest(ask.vector.tolist(), using=ECHO),
                          params=_dense_params(limit, self.index.ef), filter=flt),
            edge.Prefetch(limit=limit, query=edge.Query.Nearest(bm25.query_vector(ask.text or ""), using=BM25),
                          filter=flt),
        ]
        method = edge.Fusion.Dbsf() if fusion.method == "dbsf" else edge.Fusion.Rrf(
            k=fusion.rrf_k, weights=list(fusion.weights) if fusion.weights else None)
        return edge.QueryRequest(limit=k, prefetches=prefetches, query=method,  # type: ignore[arg-type]  # the stubs
                                 filter=flt, with_payload=True)  # type the fusions as `Fusion`, not its classes

    def index_info(self) -> tuple[str, int, int]:
        info = self.shard.info()
        total = info.points_count * len(VECTOR_NAMES)
        # the engine counts sparse vectors as indexed as soon as they are written: report the dense ones
        indexed = max(0, int(info.indexed_vectors_count) - (info.points_count if self.has_bm25() else 0))
        state = "exact" if indexed == 0 else "hnsw" if indexed >= total else "partial"
        return state, indexed, int(info.segments_count)


def _dense_params(k: int, ef: int) -> edge.SearchParams:
    """HNSW and int8 search of a dense vector for k hits: the candidate list `ef`, at least k, rescored with the
    floats."""
    return edge.SearchParams(hnsw_ef=max(ef, k), quantization=edge.QuantizationSearchParams(
        rescore=True, oversampling=OVERSAMPLING))
