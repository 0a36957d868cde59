"""The embedded store at scale: Qdrant's engine in-process (the default) beside qdrant-client's local mode (before).

    python bench/store.py --points N [--local-max 100000] [--queries 200] [--dim 640] [--drop-caches]
                          [--serve-memory-gb GB] [--json]
                          [--mode dense|hybrid] [--texts constant|words]

The data are SYNTHETIC: clustered unit vectors (1,000 random centres plus Gaussian noise), two named vectors of
`--dim` dimensions per point (echo and classical, as the product stores them) and a payload like a chunk's: an
800-byte text, its source path (one source per 50 points) and chunk index. No model is involved.

Each store is built in one subprocess and queried in another, as `ingest` builds a collection and `search serve`
answers from it, so that each peak RSS is its own. The building process: insert (upserts of 256 points, as ingest
writes them) with the points/s rate, index build (the engine's own, reported apart from the upserts: see
`search.store.edge.tuning.SEGMENT_POINTS`), its peak RSS (`build_peak_*`) and the disk used. The serving process:
open (`reopen_s`: open the store and count its points), one-vector queries with k=10: first `--queries` echo queries
right after the open (cold: the memory-mapped files not yet read in; with `--drop-caches`, not even in the kernel's
page cache), then 1,000 other queries to warm up, then `--queries` new ones for echo and for classical, without and
with a source filter (1 % of the sources): p50/p95 latency and recall@10 against exact search (brute force in numpy,
kept while the points are generated), and its peak RSS. Peak RSS is VmHWM, which counts the pages of memory-mapped
files the process touched (page cache the kernel can take back), with the anonymous part alone beside it.
`--serve-memory-gb GB` runs the serving process in a memory cgroup of that size, page cache included: a machine that
keeps no more than GB of the store's files in memory, whatever its page cache would do (root only). Local mode runs up
to `--local-max` points (it holds every point in memory: about 80 GB at 1M).

With --json the last line of output is one JSON object with the default store's figures: points, upsert_per_s,
index_build_s, reopen_s, query_p50_ms, query_p95_ms, recall_at_10, peak_rss_mb (the serving process's),
build_peak_rss_mb, disk_bytes_per_point (plus the rest, and `local_mode`).

Every point also gets its BM25 vector, computed by the store from the payload text at upsert. `--texts words`
makes each point's text 800 bytes of words drawn from a Zipf-distributed synthetic vocabulary (the default,
`constant`, is one repeated character, as before BM25, so that older figures stay comparable; BM25 is then cheap and
meaningless). `--mode hybrid` (implies `--texts words`, default store only) also times `--queries` BM25 queries and
hybrid queries (echo and BM25 fused, with the fusion of `ECHO_SEARCH_FUSION`, ...) of 2 to 6 such words: p50/p95
latency, no recall (there is no exact answer to compare with).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

# This file is bench/store.py: drop its folder from the path so `import search` finds the package, not itself.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

if TYPE_CHECKING:
    from search.store import Collection
    from search.store.edge.tuning import IndexTuning

BATCH = 256
TRUTH = "truth.npz"
"""The exact top-10 of each query set, written by the building process for the serving one."""
CENTRES = 1000
PER_SOURCE = 50
TEXT = "x" * 800
VOCABULARY = 20_000
"""Synthetic words of `--texts words`: word r (from 1) is drawn with probability proportional to 1 / r (Zipf)."""
FILTER_SHARE = 0.01
WARMUP = 1000
"""Queries (not measured, not repeated later) run between the cold pass and the measured ones, as a service that
has answered a few questions since it started; the cold pass is reported apart."""


class Data:
    """The synthetic points, generated batch by batch from a seed, with exact top-10 kept for the query set."""

    def __init__(self, points: int, dim: int, queries: int, seed: int = 0, words: bool = False) -> None:
        self.points, self.dim, self.words = points, dim, words
        rng = np.random.default_rng(seed)
        weights = 1 / np.arange(1, VOCABULARY + 1)
        self.zipf = weights / weights.sum()
        self.query_texts = [self._words(rng, int(rng.integers(2, 7))) for _ in range(2 * queries)]
        self.centres = {name: rng.standard_normal((CENTRES, dim)).astype(np.float32) for name in ("echo", "classical")}
        # Rows [0, n) are asked right after the reopen (cold), rows [n, 2n) after the warm-up (the figures).
        self.queries = {name: self._rows(rng, name, 2 * queries) for name in ("echo", "classical")}
        self.warmup = {name: self._rows(rng, name, WARMUP) for name in ("echo", "classical")}
        sources = max(points // PER_SOURCE, 1)
        self.filter_sources = sorted({int(s) for s in rng.choice(sources, max(int(sources * FILTER_SHARE), 1),
                                                                 replace=False)})
        self.seed = seed

    def _rows(self, rng: np.random.Generator, name: str, n: int) -> np.ndarray:
        x = self.centres[name][rng.integers(0, CENTRES, n)] + 0.6 * rng.standard_normal((n, self.dim))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    def _words(self, rng: np.random.Generator, n: int) -> str:
        return " ".join(f"w{r}" for r in rng.choice(VOCABULARY, size=n, p=self.zipf))

    def batches(self) -> Iterator[tuple[int, dict[str, np.ndarray], list[str]]]:
        """(first index, {name: (n, dim) rows}, texts) for every batch, always the same for the same seed."""
        rng = np.random.default_rng(self.seed + 1)
        texts = np.random.default_rng(self.seed + 2)
        for start in range(0, self.points, BATCH):
            n = min(BATCH, self.points - start)
            rows = {name: self._rows(rng, name, n) for name in ("echo", "classical")}
            yield start, rows, [self._words(texts, 130)[:800] if self.words else TEXT for _ in range(n)]

    @staticmethod
    def source(i: int) -> str:
        return f"/docs/folder{i // PER_SOURCE // 100:04d}/file{i // PER_SOURCE:07d}.md"


class TopK:
    """Exact top-10 of each query, updated batch by batch (no need to hold all vectors)."""

    def __init__(self, queries: np.ndarray, k: int = 10) -> None:
        self.queries, self.k = queries, k
        self.scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        self.ids = np.full((len(queries), k), -1, dtype=np.int64)

    def add(self, start: int, rows: np.ndarray, keep: np.ndarray | None = None) -> None:
        scores = self.queries @ rows.T
        if keep is not None:
            scores[:, ~keep] = -np.inf
        ids = np.broadcast_to(np.arange(start, start + len(rows)), scores.shape)
        all_scores = np.concatenate([self.scores, scores], axis=1)
        all_ids = np.concatenate([self.ids, ids], axis=1)
        order = np.argsort(-all_scores, axis=1, kind="stable")[:, : self.k]
        self.scores = np.take_along_axis(all_scores, order, axis=1)
        self.ids = np.take_along_axis(all_ids, order, axis=1)


def rss_mb() -> dict[str, float]:
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM", "RssAnon", "RssFile")}


class AnonPeak(threading.Thread):
    """Samples the anonymous RSS every 50 ms (VmHWM mixes in the memory-mapped files the process touched)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0.0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.05):
            self.peak = max(self.peak, rss_mb()["RssAnon"])


def disk_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 2**20


def percentiles(seconds: list[float]) -> tuple[float, float]:
    ms = np.array(seconds) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


# -- one store, in a child process -------------------------------------------------------------------------------
class EdgeStore:
    """The product's default store, through its own API (`search.store.Collection`)."""

    def __init__(self, folder: Path, dim: int, index: IndexTuning) -> None:
        from search.settings import StoreSettings

        self.folder, self.dim, self.index = folder, dim, index
        self.settings = StoreSettings()  # the collection, free-space floor and hybrid fusion (`ECHO_SEARCH_FUSION`)
        self.store = self._open()
        self.store.ensure("bench", {"model": "synthetic"}, dim)

    def _open(self) -> Collection:
        from search.store.edge.collection import EdgeCollection

        store = EdgeCollection.open_folder(self.folder, self.settings.collection, self.settings.min_free_mb, self.index)
        store.fusion = self.settings.fusion_options()
        return store

    def upsert(self, start: int, rows: dict[str, np.ndarray], texts: list[str]) -> None:
        from search.store import ChunkPoint, ChunkRecord, point_id

        self.store.upsert([
            ChunkPoint(point_id(Data.source(start + j), start + j, "bench"),
                       {name: rows[name][j] for name in rows},
                       ChunkRecord(Data.source(start + j), start + j, texts[j]))
            for j in range(len(rows["echo"]))
        ])

    @property
    def index_seconds(self) -> float:
        """Index-build seconds so far, those inside `upsert` included."""
        return self.store.index_seconds

    def finish(self) -> float:
        """Build what is left of the index; returns all index-build seconds."""
        self.store.optimize()
        return self.index_seconds

    def count(self) -> int:
        return self.store.count()

    def query(self, name: str, vector: np.ndarray, sources: list[str] | None, text: str | None = None) -> list[int]:
        """Ranking `name` ("echo", "classical", "bm25", "hybrid") for the query vector (echo's for hybrid) and text."""
        from search.store import QueryFilter

        dense = {"echo": vector[None]} if name == "hybrid" else {} if name == "bm25" else {name: vector[None]}
        texts = [text or ""] if name in ("bm25", "hybrid") else None
        hits = self.store.query(dense, k=10, filter=QueryFilter.parse(sources), texts=texts, rankings=[name])[name][0]
        return [h.record.chunk_index for h in hits]

    def info(self) -> dict[str, Any]:
        info = self.store.info()
        return {"index": info.index, "indexed_vectors": info.indexed_vectors, "segments": info.segments}

    def close(self) -> None:
        self.store.close()


class LocalModeStore:
    """qdrant-client's local mode, laid out as echo-search stored it before Qdrant's engine."""

    index_seconds = 0.0  # local mode has no index: every query scans all points

    def __init__(self, folder: Path, dim: int, create: bool = True) -> None:
        from qdrant_client import QdrantClient, models

        self.folder, self.models = folder, models
        self.client = QdrantClient(path=str(folder))
        if create:
            self.client.create_collection("docs", vectors_config={
                n: models.VectorParams(size=dim, distance=models.Distance.DOT) for n in ("echo", "classical")})

    def upsert(self, start: int, rows: dict[str, np.ndarray], texts: list[str]) -> None:
        self.client.upsert("docs", [
            self.models.PointStruct(id=start + j, vector={name: rows[name][j].tolist() for name in rows},
                                    payload={"source": Data.source(start + j), "chunk_index": start + j,
                                             "text": texts[j], "n": start + j})
            for j in range(len(rows["echo"]))
        ])

    def finish(self) -> float:
        return self.index_seconds

    def count(self) -> int:
        return int(self.client.count("docs").count)

    def query(self, name: str, vector: np.ndarray, sources: list[str] | None, text: str | None = None) -> list[int]:
        m = self.models
        flt = m.Filter(must=[m.FieldCondition(key="source", match=m.MatchAny(any=sources))]) if sources else None
        points = self.client.query_points("docs", query=vector.tolist(), using=name, limit=10, query_filter=flt,
                                          with_payload=True).points
        return [int((p.payload or {})["n"]) for p in points]

    def info(self) -> dict[str, Any]:
        return {"index": "none (brute force)"}

    def close(self) -> None:
        self.client.close()


def index_tuning(hnsw: str | None, int8_memory: str | None) -> IndexTuning:
    """The store's index tuning with the sweep's `--hnsw M,EF_CONSTRUCT,EF` and `--int8-memory` in place."""
    from search.store.edge.tuning import DEFAULT_INDEX, edge

    index = DEFAULT_INDEX
    if hnsw:
        m, ef_construct, ef = (int(v) for v in hnsw.split(","))
        index = dataclasses.replace(index, m=m, ef_construct=ef_construct, ef=ef)
    if int8_memory:
        index = dataclasses.replace(index, int8_memory=getattr(edge.Memory, int8_memory.capitalize()))
    return index


def build_one(store_name: str, points: int, dim: int, queries: int, folder: Path, hnsw: str | None = None,
              int8_memory: str | None = None, words: bool = False) -> dict[str, Any]:
    """Insert and index one store, as an `ingest` process does (runs in its own process); the exact top-10 of
    every query set is kept in `folder`/truth.npz for the serving process."""
    peak = AnonPeak()
    peak.start()
    data = Data(points, dim, queries, words=words)
    truth = {name: TopK(q) for name, q in data.queries.items()}
    filtered = TopK(data.queries["echo"])
    wanted = {Data.source(s * PER_SOURCE) for s in data.filter_sources}
    index = index_tuning(hnsw, int8_memory)
    store = EdgeStore(folder, dim, index) if store_name == "edge" else LocalModeStore(folder, dim)
    upsert_s = 0.0
    for start, rows, texts in data.batches():
        t0 = time.perf_counter()
        index_before = store.index_seconds
        store.upsert(start, rows, texts)
        upsert_s += time.perf_counter() - t0 - (store.index_seconds - index_before)
        for name in rows:
            truth[name].add(start, rows[name])
        keep = np.array([Data.source(start + j) in wanted for j in range(len(rows["echo"]))])
        filtered.add(start, rows["echo"], keep)
        if start // BATCH % 400 == 0:
            print(f"  {store_name}: {start + len(rows['echo'])}/{points} points", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    index_s = store.finish()
    final_index_s = time.perf_counter() - t0
    info = store.info()
    store.close()
    peak.stop.set()
    np.savez(folder / TRUTH, filtered=filtered.ids, **{name: top.ids for name, top in truth.items()})
    memory = rss_mb()
    return {
        "store": store_name, "points": points, "dim": dim, "texts": "words" if data.words else "constant",
        "upsert_per_s": points / upsert_s,
        "hnsw": index.describe() if store_name == "edge" else "", "int8_memory": int8_memory or "cold",
        "index_build_s": index_s, "index_build_last_s": final_index_s, **info,
        "build_peak_rss_mb": memory["VmHWM"], "build_peak_anon_mb": max(peak.peak, memory["RssAnon"]),
        "disk_mb": disk_mb(folder), "disk_bytes_per_point": disk_mb(folder) * 1e6 / points,
    }


def serve_one(store_name: str, points: int, dim: int, queries: int, folder: Path, hnsw: str | None = None,
              int8_memory: str | None = None, words: bool = False, hybrid: bool = False) -> dict[str, Any]:
    """Open the store that `build_one` wrote and query it, as a `search serve` process does (runs in its own
    process, so its peak RSS is that of a serving process)."""
    peak = AnonPeak()
    peak.start()
    data = Data(points, dim, queries, words=words or hybrid)
    exact = dict(np.load(folder / TRUTH))
    sources = sorted({Data.source(s * PER_SOURCE) for s in data.filter_sources})
    # imported before the clock starts: not timed as reopen
    importlib.import_module("search.store.edge.collection" if store_name == "edge" else "qdrant_client")
    t0 = time.perf_counter()
    store = EdgeStore(folder, dim, index_tuning(hnsw, int8_memory)) if store_name == "edge" \
        else LocalModeStore(folder, dim, create=False)
    store.count()
    result: dict[str, Any] = {"reopen_s": time.perf_counter() - t0}

    def measure(label: str, name: str, flt: list[str] | None, ids: np.ndarray, rows: range) -> None:
        seconds, recalls = [], []
        for i in rows:
            t0 = time.perf_counter()
            found = store.query(name, data.queries[name][i], flt)
            seconds.append(time.perf_counter() - t0)
            recalls.append(len(set(found) & set(ids[i].tolist())) / 10)
        p50, p95 = percentiles(seconds)
        result[f"{label}_p50_ms"], result[f"{label}_p95_ms"] = p50, p95
        result[f"{label}_recall_at_10"] = float(np.mean(recalls))

    measure("cold_echo", "echo", None, exact["echo"], range(queries))
    for i in range(WARMUP):
        store.query("echo" if i % 2 else "classical", data.warmup["echo" if i % 2 else "classical"][i], None)
    for label, name, flt, ids in (("echo", "echo", None, exact["echo"]),
                                  ("classical", "classical", None, exact["classical"]),
                                  ("echo_filtered", "echo", sources, exact["filtered"])):
        measure(label, name, flt, ids, range(queries, 2 * queries))
    if hybrid:  # latency only: BM25 has no exact answer computed here
        for name in ("bm25", "hybrid"):
            seconds = []
            for i in range(queries, 2 * queries):
                t0 = time.perf_counter()
                store.query(name, data.queries["echo"][i], None, data.query_texts[i])
                seconds.append(time.perf_counter() - t0)
            result[f"{name}_p50_ms"], result[f"{name}_p95_ms"] = percentiles(seconds)
    store.close()
    peak.stop.set()
    memory = rss_mb()
    result["peak_rss_mb"] = memory["VmHWM"]
    result["peak_anon_mb"] = max(peak.peak, memory["RssAnon"])
    return result


def drop_page_cache() -> None:
    """Write back and drop the kernel's page cache, so the serving process starts with no file in memory (root)."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as exc:
        sys.exit(f"--drop-caches needs root (writing /proc/sys/vm/drop_caches: {exc})")


# -- the parent: runs the children, prints the table --------------------------------------------------------------
def memory_cgroup(gb: float) -> Path:
    """A new memory cgroup (v2, else v1) under this process's own, limited to `gb` GB: page cache included, so a
    process in it keeps at most that much of the files it maps (needs root)."""
    lines = Path("/proc/self/cgroup").read_text().splitlines()
    unified = next((line.split(":", 2)[2] for line in lines if line.startswith("0::")), None)
    v1 = next((line.split(":", 2)[2] for line in lines if ":memory:" in line), None)
    if Path("/sys/fs/cgroup/cgroup.controllers").exists() and unified is not None:
        folder, limit_file = Path("/sys/fs/cgroup") / unified.lstrip("/") / f"bench-store-{os.getpid()}", "memory.max"
    elif v1 is not None:
        folder = Path("/sys/fs/cgroup/memory") / v1.lstrip("/") / f"bench-store-{os.getpid()}"
        limit_file = "memory.limit_in_bytes"
    else:
        sys.exit("--serve-memory-gb needs a memory cgroup (v1 or v2)")
    try:
        folder.mkdir()
        (folder / limit_file).write_text(str(int(gb * 2**30)))
    except OSError as exc:
        sys.exit(f"--serve-memory-gb needs root and a writable memory cgroup ({folder}: {exc})")
    return folder


def join_cgroup(cgroup: Path) -> None:
    """Move this process into `cgroup` (run in the child between fork and exec)."""
    (cgroup / "cgroup.procs").write_text(str(os.getpid()))


def child(store: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Build `store` in one process, then (after dropping the page cache with --drop-caches) query it in another
    (in a memory cgroup of --serve-memory-gb)."""
    result: dict[str, Any] = {}
    for phase in ("build", "serve"):
        if phase == "serve" and args.drop_caches:
            drop_page_cache()
        cmd = [sys.executable, __file__, "--child", store, "--phase", phase, "--points", str(args.points),
               "--dim", str(args.dim), "--queries", str(args.queries), "--folder", str(tmp / store)]
        if args.hnsw and store == "edge":
            cmd += ["--hnsw", args.hnsw]
        if args.int8_memory and store == "edge":
            cmd += ["--int8-memory", args.int8_memory]
        cmd += ["--texts", args.texts] + (["--mode", args.mode] if store == "edge" else [])
        cgroup = memory_cgroup(args.serve_memory_gb) if phase == "serve" and args.serve_memory_gb else None
        join = functools.partial(join_cgroup, cgroup) if cgroup else None
        try:
            out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True, preexec_fn=join).stdout
        finally:
            if cgroup is not None:
                cgroup.rmdir()
        result.update(json.loads(out.strip().splitlines()[-1]))
        if cgroup is not None:
            result["serve_memory_limit_gb"] = args.serve_memory_gb
    return result


def machine() -> str:
    flags = Path("/proc/cpuinfo").read_text().split("flags", 2)[1].split("\n", 1)[0] if Path("/proc/cpuinfo").exists() \
        else ""
    isa = "avx512" if "avx512f" in flags else "avx2" if "avx2" in flags else "other"
    return f"{os.cpu_count()} CPUs ({isa}), qdrant-edge-py {version('qdrant-edge-py')}, " \
           f"qdrant-client {version('qdrant-client')}"


def version(package: str) -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version(package)
    except PackageNotFoundError:
        return "?"


def table(rows: list[dict[str, Any]]) -> str:
    columns = [("store", "{}"), ("hnsw", "{}"), ("points", "{:,}"), ("upsert_per_s", "{:,.0f}"),
               ("index_build_s", "{:.1f}"),
               ("reopen_s", "{:.2f}"), ("cold_echo_p50_ms", "{:.2f}"), ("cold_echo_p95_ms", "{:.2f}"),
               ("echo_p50_ms", "{:.2f}"), ("echo_p95_ms", "{:.2f}"),
               ("echo_recall_at_10", "{:.3f}"), ("classical_p50_ms", "{:.2f}"), ("classical_recall_at_10", "{:.3f}"),
               ("echo_filtered_p50_ms", "{:.2f}"), ("echo_filtered_p95_ms", "{:.2f}"),
               ("echo_filtered_recall_at_10", "{:.3f}"), ("bm25_p50_ms", "{:.2f}"), ("bm25_p95_ms", "{:.2f}"),
               ("hybrid_p50_ms", "{:.2f}"), ("hybrid_p95_ms", "{:.2f}"), ("build_peak_rss_mb", "{:,.0f}"),
               ("build_peak_anon_mb", "{:,.0f}"), ("peak_rss_mb", "{:,.0f}"), ("peak_anon_mb", "{:,.0f}"),
               ("disk_mb", "{:,.0f}"), ("disk_bytes_per_point", "{:,.0f}")]
    lines = ["| " + " | ".join(name for name, _ in columns) + " |", "|" + " ---: |" * len(columns)]
    lines += ["| " + " | ".join(fmt.format(r[name]) if name in r else "" for name, fmt in columns) + " |"
              for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=640, help="dimensions of each of the two named vectors")
    parser.add_argument("--queries", type=int, default=200, help="query vectors per kind (echo, classical, filtered)")
    parser.add_argument("--local-max", type=int, default=100_000,
                        help="largest --points that local mode is also run at (it holds every point in memory)")
    parser.add_argument("--hnsw", metavar="M,EF_CONSTRUCT,EF",
                        help="index settings other than the product's, for a sweep (e.g. 32,200,128)")
    parser.add_argument("--int8-memory", choices=["cold", "cached", "pinned"],
                        help="where the int8 copies live, other than the product's choice (memory-mapped: cold)")
    parser.add_argument("--json", action="store_true", help="end with one JSON line of the default store's figures")
    parser.add_argument("--mode", choices=["dense", "hybrid"], default="dense",
                        help="hybrid: also time BM25 and hybrid queries (default store only; implies --texts words)")
    parser.add_argument("--texts", choices=["constant", "words"], default="constant",
                        help="payload text of each point: one repeated character, or Zipf-distributed words")
    parser.add_argument("--drop-caches", action="store_true",
                        help="drop the kernel's page cache before the serving process opens the store (needs root): "
                             "cold figures from disk, not from the pages the build left in memory")
    parser.add_argument("--serve-memory-gb", type=float, metavar="GB",
                        help="run the serving process in a memory cgroup of GB gigabytes, page cache included (needs "
                             "root): a machine that keeps no more than that of the store's files in memory")
    parser.add_argument("--child", choices=["edge", "local"], help=argparse.SUPPRESS)
    parser.add_argument("--phase", choices=["build", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.phase == "build":
            print(json.dumps(build_one(args.child, args.points, args.dim, args.queries, args.folder, args.hnsw,
                                       args.int8_memory, words=args.texts == "words" or args.mode == "hybrid")))
        else:
            print(json.dumps(serve_one(args.child, args.points, args.dim, args.queries, args.folder, args.hnsw,
                                       args.int8_memory, words=args.texts == "words", hybrid=args.mode == "hybrid")))
        return
    if args.mode == "hybrid":
        args.texts = "words"

    print(f"bench/store.py: SYNTHETIC clustered vectors, {args.points:,} points x 2 x {args.dim}-d + 800-byte "
          f"payload; {args.queries} queries per kind, k=10; {machine()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-store-") as tmp:
        rows = [child("edge", args, Path(tmp))]
        shutil.rmtree(Path(tmp) / "edge")
        if args.points <= args.local_max and args.mode == "dense":
            rows.append(child("local", args, Path(tmp)))
    print(table(rows), flush=True)
    edge = rows[0]
    print(f"default store: index {edge['index']}, {edge.get('segments')} segments; index build "
          f"{edge['index_build_s']:.1f} s in all ({edge['index_build_last_s']:.1f} s at the end), reported apart "
          "from the upserts; peak RSS (of the building and of the serving process) counts the memory-mapped files the "
          "process touched, peak anon does not")
    if args.json:
        summary = {**edge, "query_p50_ms": edge["echo_p50_ms"], "query_p95_ms": edge["echo_p95_ms"],
                   "recall_at_10": edge["echo_recall_at_10"], "local_mode": rows[1] if len(rows) > 1 else None}
        print(json.dumps(summary))


if __name__ == "__main__":
    main()
