"""BM25 and hybrid rankings in the store, on both store implementations: the embedded engine and the server API
(":memory:")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import qdrant_edge as edge
from qdrant_client import models

from search.store import (
    BM25,
    ECHO,
    HYBRID,
    ChunkPoint,
    ChunkRecord,
    Collection,
    Fusion,
    MissingBm25Error,
    QueryFilter,
    open_collection,
    point_id,
)
from search.store import bm25 as bm25_config
from search.store.edge import tuning
from search.store.schema import BM25_META

DIM = 16
WORDS = ["river", "stone", "garden", "window", "paper", "orange", "engine", "violin", "coffee", "lantern", "harbor",
         "meadow", "pencil", "silver", "thunder", "basket", "candle", "mirror", "forest", "rocket"]


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def texts(n: int, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(WORDS, size=int(rng.integers(4, 12)))) for _ in range(n)]


def chunk_points(chunk_texts: list[str], source: str = "/docs/a.md", seed: int = 0) -> list[ChunkPoint]:
    rng = np.random.default_rng(seed)
    echo, classical = unit(rng.standard_normal((len(chunk_texts), DIM))), unit(rng.standard_normal((len(chunk_texts),
                                                                                                     DIM)))
    return [ChunkPoint(point_id(source, i, "h"), {ECHO: echo[i], "classical": classical[i]},
                       ChunkRecord(source, i, text))
            for i, text in enumerate(chunk_texts)]


def open_store(kind: str, tmp_path: Path, name: str = "docs") -> Collection:
    return open_collection(path=tmp_path / "qdrant", collection=name) if kind == "embedded" \
        else open_collection(url=":memory:", collection=name)


@pytest.fixture(params=["embedded", "server"])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_a_keyword_only_query_is_found_by_bm25_and_needs_no_vector(kind: str, tmp_path: Path) -> None:
    chunks = texts(60) + ["the quokka sleeps in the shade of a eucalyptus", "a quokka photo"]
    with open_store(kind, tmp_path) as store:
        store.ensure("fp", {}, DIM)
        store.upsert(chunk_points(chunks))
        found = store.query({}, 5, texts=["Quokkas!", "eucalyptus"], rankings=[BM25])[BM25]
        assert {h.record.text for h in found[0]} == {chunks[-2], chunks[-1]}  # stemmed and lowercased
        assert [h.record.text for h in found[1]] == [chunks[-2]]
        assert store.query({}, 5, texts=["the of and"], rankings=[BM25])[BM25] == [[]]  # stopwords only: no hit
        with pytest.raises(ValueError, match="needs the query texts"):
            store.query({}, 5, rankings=[BM25])
        store.upsert(chunk_points(["another quokka, elsewhere"], "/docs/b.md"))
        qvec = unit(np.ones((1, DIM)))
        only_b = store.query({ECHO: qvec}, 5, QueryFilter.parse("/docs/b.md"), texts=["quokka"],
                             rankings=[BM25, HYBRID])
        assert [h.record.text for h in only_b[BM25][0]] == ["another quokka, elsewhere"]
        assert [h.record.source for h in only_b[HYBRID][0]] == ["/docs/b.md"]  # the filter holds in both prefetches


def test_idf_follows_deletes_and_updates(kind: str, tmp_path: Path) -> None:
    """After writes and the `optimize` every ingest ends with, BM25 scores are those of a collection built afresh
    from the live points: deleted and replaced chunks no longer count in the document frequencies."""
    base = ["apple pie with cream", "zebra crossing", "zebra stripes", "quiet zebra"]
    common = ["apple tart", "apple juice", "apple tree", "apple core"]
    query = ["apple zebra"]
    with open_store(kind, tmp_path) as store:
        store.ensure("fp", {}, DIM)
        store.upsert(chunk_points(base, "/a.md"))
        store.upsert(chunk_points(common, "/b.md", seed=1))
        before = store.query({}, 10, texts=query, rankings=[BM25])[BM25][0]
        store.delete_source("/b.md")  # "apple" gets rarer
        store.upsert(chunk_points(["zebra crossing", "a zebra", "no stripes here", "quiet"], "/a.md")[2:3])  # replace
        store.optimize()
        after = {h.id: h.score for h in store.query({}, 10, texts=query, rankings=[BM25])[BM25][0]}
    live = chunk_points(base, "/a.md")
    live[2] = chunk_points(["zebra crossing", "a zebra", "no stripes here"], "/a.md")[2]
    with open_store(kind, tmp_path / "fresh") as fresh:
        fresh.ensure("fp", {}, DIM)
        fresh.upsert(live)
        expected = {h.id: h.score for h in fresh.query({}, 10, texts=query, rankings=[BM25])[BM25][0]}
    assert after.keys() == expected.keys() and len(expected) == 3
    assert all(after[i] == pytest.approx(expected[i], rel=1e-5) for i in expected)
    apple_pie = live[0].id
    assert after[apple_pie] > next(h.score for h in before if h.id == apple_pie)


def count_engine_calls(store: Collection, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the engine's batch queries of `store` (the embedded shard's or the server client's)."""
    calls: list[int] = []
    if hasattr(store, "client"):
        real = store.client.query_batch_points

        def counted(*args: Any, **kwargs: Any) -> Any:
            calls.append(len(kwargs["requests"]))
            return real(*args, **kwargs)

        monkeypatch.setattr(store.client, "query_batch_points", counted)
        return calls
    shard = store._shard  # type: ignore[attr-defined]

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(shard, name)

        def query_batch(self, request: edge.QueryBatchRequest) -> Any:
            calls.append(len(request.queries))
            return shard.query_batch(request)

    monkeypatch.setattr(store, "_shard", Counting())
    return calls


def rrf(lists: list[list[str]], k: int, weights: list[float] | None = None) -> dict[str, float]:
    """Reciprocal rank fusion as Qdrant computes it: 1 / ((rank + 1) / w + k - 1), ranks from 0."""
    scores: dict[str, float] = {}
    for ids, w in zip(lists, weights or [1.0] * len(lists), strict=True):
        for rank, pid in enumerate(ids):
            scores[pid] = scores.get(pid, 0.0) + 1 / ((rank + 1) / w + k - 1)
    return scores


@pytest.mark.parametrize("weights", [None, (1.0, 3.0)])
def test_hybrid_is_one_engine_call_and_rrf_matches_a_hand_computed_fusion(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, weights: tuple[float, float] | None
) -> None:
    chunks = texts(200, seed=3)
    queries = ["river garden", "violin candle rocket", "silver silver thunder"]
    rng = np.random.default_rng(5)
    qvec = unit(rng.standard_normal((len(queries), DIM)))
    k, prefetch = 5, 4
    with open_store(kind, tmp_path) as store:
        store.ensure("fp", {}, DIM)
        store.upsert(chunk_points(chunks, seed=3))
        lists = store.query({ECHO: qvec}, k * prefetch, texts=queries, rankings=[ECHO, BM25])
        store.fusion = Fusion("rrf", rrf_k=7, weights=weights, prefetch=prefetch)
        calls = count_engine_calls(store, monkeypatch)
        fused = store.query({ECHO: qvec}, k, texts=queries, rankings=[ECHO, HYBRID, BM25])
    assert calls == [3 * len(queries)]  # the whole batch, every ranking: one engine call
    for i in range(len(queries)):
        expected = rrf([[h.id for h in lists[ECHO][i]], [h.id for h in lists[BM25][i]]], 7,
                       list(weights) if weights else None)
        hits = fused[HYBRID][i]
        assert len(hits) == k
        assert [h.score for h in hits] == pytest.approx([expected[h.id] for h in hits], rel=1e-5)
        assert [h.score for h in hits] == pytest.approx(sorted(expected.values(), reverse=True)[:k], rel=1e-5)
        assert [h.id for h in fused[ECHO][i]] == [h.id for h in lists[ECHO][i][:k]]


def dbsf(lists: list[list[tuple[str, float]]]) -> dict[str, float]:
    """Distribution-based score fusion as Qdrant computes it: each list's scores mapped from mean +- 3 sample
    standard deviations onto [0, 1] (a lone hit or equal scores: 0.5), then summed per point."""
    fused: dict[str, float] = {}
    for hits in lists:
        scores = np.array([s for _, s in hits])
        sd = float(np.std(scores, ddof=1)) if len(hits) > 1 else 0.0
        for pid, score in hits:
            value = 0.5 if sd == 0 else (score - (scores.mean() - 3 * sd)) / (6 * sd)
            fused[pid] = fused.get(pid, 0.0) + value
    return fused


def test_dbsf_matches_a_hand_computed_fusion_and_a_stopword_query_keeps_echo_order(kind: str, tmp_path: Path) -> None:
    chunks = texts(120, seed=4) + ["a lonely zeppelin"]
    queries = ["zeppelin river", "forest forest coffee", "the of"]
    qvec = unit(np.random.default_rng(6).standard_normal((len(queries), DIM)))
    with open_store(kind, tmp_path) as store:
        store.ensure("fp", {}, DIM)
        store.upsert(chunk_points(chunks, seed=4))
        assert store.fusion == Fusion("dbsf", prefetch=5)  # the default
        lists = store.query({ECHO: qvec}, 4 * 5, texts=queries, rankings=[ECHO, BM25])
        found = store.query({ECHO: qvec}, 4, texts=queries, rankings=[ECHO, HYBRID])
    for i in range(len(queries)):
        expected = dbsf([[(h.id, h.score) for h in lists[name][i]] for name in (ECHO, BM25)])
        hits = found[HYBRID][i]
        assert [h.score for h in hits] == pytest.approx([expected[h.id] for h in hits], rel=1e-4)
        assert [h.score for h in hits] == pytest.approx(sorted(expected.values(), reverse=True)[:4], rel=1e-4)
    assert lists[BM25][2] == [] and [h.id for h in found[HYBRID][2]] == [h.id for h in found[ECHO][2]]


def make_old(kind: str, tmp_path: Path, points: list[ChunkPoint]) -> None:
    """A collection as echo-search wrote it before BM25: two dense vectors, no sparse one, no BM25 mark."""
    meta = {"fingerprint": "fp", "embedder": {"model": "m"}, "dim": DIM}
    if kind == "embedded":
        folder = tmp_path / "qdrant"
        open_collection(path=folder).close()  # the folder's marker and lock file
        shard_dir = folder / "collections" / "docs" / "shard"
        vector = edge.EdgeVectorParams(size=DIM, distance=edge.Distance.Dot)
        shard = edge.EdgeShard.create(str(shard_dir), edge.EdgeConfig(vectors={ECHO: vector, "classical": vector}))
        shard.update(edge.UpdateOperation.upsert_points([
            edge.Point(p.id, {n: np.asarray(v).tolist() for n, v in p.vectors.items()}, p.record.as_dict())
            for p in points]))
        shard.flush()
        shard.close()
        (shard_dir.parent / "collection.json").write_text(json.dumps(meta))


def dense_vectors(store: Collection) -> dict[str, dict[str, list[float]]]:
    if hasattr(store, "client"):
        records = store.client.scroll(store.name, limit=10_000, with_vectors=True)[0]
    else:
        records = store.shard.scroll(edge.ScrollRequest(limit=10_000, with_vector=True))[0]  # type: ignore[attr-defined]
    return {str(r.id): {n: list(v) for n, v in (r.vector or {}).items() if n != BM25} for r in records}


def test_an_old_collection_gets_bm25_from_its_text_without_touching_its_dense_vectors(
    kind: str, tmp_path: Path
) -> None:
    chunks = texts(50, seed=8) + ["where the narwhal swims"]
    points = chunk_points(chunks, seed=8)
    make_old(kind, tmp_path, points)
    store = open_store(kind, tmp_path)
    try:
        if kind == "server":  # the server API: created by the old code's call, in this client's memory
            store.client.create_collection(  # type: ignore[attr-defined]
                "docs", vectors_config={n: models.VectorParams(size=DIM, distance=models.Distance.DOT)
                                        for n in (ECHO, "classical")},
                metadata={"fingerprint": "fp", "embedder": {"model": "m"}})
            store.upsert(points)
        assert not store.has_bm25()
        before = dense_vectors(store)
        with pytest.raises(MissingBm25Error, match="run `ingest`"):
            store.query({}, 3, texts=["narwhal"], rankings=[BM25])
        store.ensure("fp", {"model": "m"}, DIM)  # what every `ingest` does first
        assert store.has_bm25() and store.metadata()[BM25_META] == bm25_config.DESCRIPTION
        assert dense_vectors(store) == before
        assert store.count() == len(points)
        store.optimize()
        assert store.info().indexed_vectors in (0, 2 * len(points))  # sparse vectors are not reported as dense ones
        hits = store.query({ECHO: unit(np.ones((1, DIM)))}, 3, texts=["narwhal"], rankings=[BM25, HYBRID])
        assert hits[BM25][0][0].record.text == "where the narwhal swims"
        assert store.ensure_bm25() == 0  # done once
        store.upsert(chunk_points(["a narwhal tusk"], "/docs/new.md"))  # new points get theirs at upsert
        assert len(store.query({}, 5, texts=["narwhal"], rankings=[BM25])[BM25][0]) == 2
    finally:
        store.close()
    if kind == "embedded":  # and all of it is on disk
        with open_store(kind, tmp_path) as again:
            assert again.has_bm25()
            assert {pid: v for pid, v in dense_vectors(again).items() if pid in before} == before
            assert len(again.query({}, 5, texts=["narwhal"], rankings=[BM25])[BM25][0]) == 2


def test_an_interrupted_upgrade_is_finished_by_the_next_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    points = chunk_points(texts(30, seed=9), seed=9)
    make_old("embedded", tmp_path, points)
    monkeypatch.setattr("search.store.collection.BACKFILL_PAGE", 10)
    with open_store("embedded", tmp_path) as store:
        real = store._write_bm25
        written: list[int] = []

        def fail_second(batch: list[tuple[str, str]]) -> None:
            if written:
                raise KeyboardInterrupt
            written.append(len(batch))
            real(batch)

        monkeypatch.setattr(store, "_write_bm25", fail_second)
        with pytest.raises(KeyboardInterrupt):
            store.ensure("fp", {}, DIM)
    with open_store("embedded", tmp_path) as store:
        assert not store.has_bm25()  # not marked: searching BM25 still says to run ingest
        assert store.ensure_bm25() == 30
        assert store.has_bm25()


def test_edge_store_records_the_bm25_layout() -> None:
    config = tuning.shard_config(DIM, tuning.DEFAULT_INDEX)
    assert set(config.sparse_vectors) == {BM25}
    assert config.sparse_vectors[BM25].modifier == edge.Modifier.Idf
