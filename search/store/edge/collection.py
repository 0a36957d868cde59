"""`EdgeCollection`: a collection of the embedded store, Qdrant's own engine in-process (`qdrant-edge-py`), in a
folder that one process at a time holds (`search.store.edge.folder`, which describes the layout).

This module opens and creates a collection and keeps its state (the shard, `collection.json`, the write generation);
the rest is in modules with one job each: how the engine indexes (`tuning`), writing points (`points`), reading them
back (`reading`), searching (`queries`), and checking the files at open (`integrity`).
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import numpy as np
import qdrant_edge as edge

from search.store import bm25
from search.store.collection import Collection, next_generation
from search.store.edge import points as point_writes
from search.store.edge import reading, tuning
from search.store.edge.folder import hold, write_json
from search.store.edge.integrity import shard_problem
from search.store.edge.queries import query_request, stored_hits
from search.store.edge.space import DiskSpace, allocate_holes, is_no_space
from search.store.edge.tuning import DEFAULT_INDEX, PAYLOAD_INDEXES, IndexTuning, shard_config
from search.store.errors import CollectionNotFoundError, StoreDamagedError, StoreLockedError
from search.store.filters import QueryFilter
from search.store.qdrant_filters import client_to_edge, source_is
from search.store.schema import BM25, BM25_META, SOURCE, VECTOR_NAMES, Ask, ChunkPoint, StoredHit
from search.validation import check_collection_name

_SMALL_WRITE_BYTES = 1 << 20
"""What a delete or payload update may write (its record in the write-ahead log), with room to spare."""
_CREATE_BYTES = 8 << 20
"""What creating a collection writes (the write-ahead log and segments are sparse until written)."""


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
        lock, space = hold(folder, min_free_mb)
        try:
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
            shard = edge.EdgeShard.create(str(self._shard_dir), shard_config(dim, self.index))
            for key, kind in PAYLOAD_INDEXES.items():
                shard.update(edge.UpdateOperation.create_field_index(key, kind))
            shard.flush()
            meta = {"fingerprint": fingerprint, "embedder": embedder, "dim": dim, BM25_META: bm25.DESCRIPTION}
            write_json(self._meta_path, meta)
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
        """Write `points`; once `tuning.SEGMENT_POINTS` were written since the last index build, build it (see
        there)."""
        if not points:
            return
        operation, need = point_writes.upsert_points(points, self.has_bm25())
        self._apply(operation, _SMALL_WRITE_BYTES + need)
        self._wrote(len(points))

    def _wrote(self, points: int) -> None:
        self._unindexed += points
        if self._unindexed >= tuning.SEGMENT_POINTS:
            self.optimize()

    def _add_sparse_vector(self) -> None:
        self._apply(edge.UpdateOperation.create_sparse_vector(BM25, modifier=edge.Modifier.Idf))  # idempotent

    def _write_bm25(self, texts: list[tuple[str, str]]) -> None:
        self._apply(point_writes.update_bm25(texts))
        self._wrote(len(texts))  # the engine writes each updated point anew: its dense vectors need indexing again

    def _set_metadata(self, key: str, value: Any) -> None:
        with self._write_lock:
            self.shard.flush()  # the points first: the mark must never be on disk before what it vouches for
            meta = {**self._meta, key: value}
            write_json(self._meta_path, meta)
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
            if need > tuning.INDEXING_THRESHOLD_KB * 1024:  # below it, nothing is indexed
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
        if self.exists():
            yield from reading.payloads(self.shard, self._reading, fields, page, where.to_edge() if where else None)

    def sample_vectors(self, names: Sequence[str], n: int) -> dict[str, np.ndarray]:
        return reading.sample_vectors(self._shard, names, n)

    def _search(self, asks: list[Ask], k: int, where: QueryFilter | None) -> list[list[StoredHit]]:
        flt = where.to_edge() if where else None
        requests = [query_request(ask, k, flt, self.index.ef, self.fusion) for ask in asks]
        with self._reading():
            answers = self.shard.query_batch(edge.QueryBatchRequest(requests))
        return [stored_hits(points) for points in answers]

    def check(self, page: int = 512) -> int:
        """Read every point once, vectors and payload (`search info --check`); `StoreDamagedError` names a file
        that cannot be read, a vector that is not numbers, or a file whose chunks are not all there
        (`reading.damage`). Returns the number of points read."""
        if not self.exists():
            return 0
        seen, problem = reading.damage(self.shard, self._reading, int(self._meta["dim"]), page)
        if problem:
            raise self._damaged(problem)
        return seen

    def index_info(self) -> tuple[str, int, int]:
        info = self.shard.info()
        total = info.points_count * len(VECTOR_NAMES)
        # the engine counts sparse vectors as indexed as soon as they are written: report the dense ones
        indexed = max(0, int(info.indexed_vectors_count) - (info.points_count if self.has_bm25() else 0))
        state = "exact" if indexed == 0 else "hnsw" if indexed >= total else "partial"
        return state, indexed, int(info.segments_count)

