"""The store package: the embedded engine (qdrant-edge) and the server path (qdrant-client's in-process API).

No Qdrant server binary can be installed where these tests run, so the server code path (`ServerCollection`)
runs against qdrant-client's own in-process implementation of the server API (`open_collection(url=":memory:")`).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from typer.testing import CliRunner

from search.cli.app import app as search_app
from search.store import (
    ChunkPoint,
    ChunkRecord,
    Collection,
    CollectionNotFoundError,
    FilterError,
    OldFormatError,
    QueryFilter,
    StoreLockedError,
    open_collection,
    point_id,
)
from search.store.edge import tuning
from search.store.edge.migrate import BACKUP_SUFFIX, migrate_folder

ROOT = Path(__file__).resolve().parents[1]
DIM = 32


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def clustered(n: int, seed: int, centers: int = 20) -> np.ndarray:
    """`n` unit vectors around `centers` random centres (what embeddings of a corpus look like, roughly)."""
    rng = np.random.default_rng(seed)
    middle = rng.standard_normal((centers, DIM))
    return unit(middle[rng.integers(0, centers, n)] + 0.6 * rng.standard_normal((n, DIM)))


def make_points(n: int, seed: int = 0) -> list[ChunkPoint]:
    echo, classical = clustered(n, seed), clustered(n, seed + 1)
    return [
        ChunkPoint(point_id(f"/docs/{i % 7}.md", i, "h"), {"echo": echo[i], "classical": classical[i]},
                   ChunkRecord(f"/docs/{i % 7}.md", i, f"chunk {i}", title=["a", "b", "c"][i % 3]))
        for i in range(n)
    ]


@pytest.fixture(params=["embedded", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path):
    s = open_collection(path=tmp_path / "qdrant") if request.param == "embedded" else open_collection(url=":memory:")
    s.ensure("fp", {"model": "test"}, DIM)
    yield s
    s.close()


def test_no_module_outside_the_store_imports_a_qdrant_package() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+qdrant_(client|edge)\b", re.MULTILINE)
    files = [path for package in ("embedder", "ingest", "search", "ui") for path in (ROOT / package).rglob("*.py")]
    store_package = ROOT / "search" / "store"
    assert any(pattern.search(p.read_text()) for p in store_package.glob("*.py"))  # the pattern does find them
    offenders = [str(p.relative_to(ROOT)) for p in files
                 if store_package not in p.parents and pattern.search(p.read_text())]
    assert offenders == []


def test_the_engine_and_the_server_answer_the_same_queries_with_exact_scores(tmp_path: Path) -> None:
    points = make_points(300)
    queries = {"echo": clustered(5, 9), "classical": clustered(5, 10)}
    answers = []
    for s in (open_collection(path=tmp_path / "qdrant"), open_collection(url=":memory:")):
        s.ensure("fp", {}, DIM)
        s.upsert(points)
        answers.append(s.query(queries, k=5))
        s.close()
    for name, rows in queries.items():
        matrix = np.stack([np.asarray(p.vectors[name]) for p in points])
        for i, row in enumerate(rows):
            exact = np.argsort(-(matrix @ row))[:5]
            for found in (answers[0][name][i], answers[1][name][i]):
                assert [h.id for h in found] == [points[j].id for j in exact]
                assert np.allclose([h.score for h in found], (matrix @ row)[exact], atol=1e-5)


FILTERS = [
    "/docs/3.md",
    ["/docs/1.md", "/docs/2.md"],
    {"must": [{"key": "title", "match": {"value": "b"}}],
     "must_not": [{"key": "source", "match": {"value": "/docs/1.md"}}]},
    {"should": [{"key": "chunk_index", "range": {"lt": 10}}, {"key": "title", "match": {"any": ["c"]}}]},
    {"must": [{"key": "title", "match": {"except": ["a", "b"]}}]},
    {"must": [{"is_empty": {"key": "missing"}}, {"key": "chunk_index", "range": {"gte": 200}}]},
    {"min_should": {"conditions": [{"key": "title", "match": {"value": "a"}},
                                   {"key": "chunk_index", "range": {"gte": 150}}], "min_count": 2}},
]


@pytest.mark.parametrize("flt", FILTERS, ids=range(len(FILTERS)))
def test_filters_mean_the_same_on_the_engine_and_the_server_and_match_a_payload_check(tmp_path: Path, flt) -> None:
    points = make_points(240)
    query, where = {"echo": clustered(1, 3)}, QueryFilter.parse(flt)
    found = []
    for s in (open_collection(path=tmp_path / "qdrant"), open_collection(url=":memory:")):
        s.ensure("fp", {}, DIM)
        s.upsert(points)
        found.append({h.id for h in s.query(query, k=240, filter=where)["echo"][0]})
        s.close()
    client = QdrantClient(":memory:")  # the reference: qdrant-client's own evaluation of the filter on payloads
    client.create_collection("ref", vectors_config=models.VectorParams(size=1, distance=models.Distance.DOT))
    client.upsert("ref", [models.PointStruct(id=p.id, vector=[1.0], payload=p.record.as_dict()) for p in points])
    expected = {str(p.id) for p in client.scroll("ref", where.to_client(), limit=1000)[0]}
    assert 0 < len(expected) < len(points)
    assert found[0] == found[1] == expected


def test_a_bad_filter_gets_one_short_message() -> None:
    with pytest.raises(FilterError, match="not a valid Qdrant filter"):
        QueryFilter.parse({"must": 3})
    with pytest.raises(FilterError, match="source path"):
        QueryFilter.parse(42)
    assert QueryFilter.parse(["b", "a", "b"]) == QueryFilter.parse(["a", "b"])
    assert QueryFilter.parse([]) is None and QueryFilter.parse("") is None


def test_writes_bookkeeping_and_sources(store: Collection) -> None:
    points = make_points(30)
    store.upsert(points)
    assert store.count() == 30 and store.sources() == [f"/docs/{i}.md" for i in range(7)]
    keep = [p.id for p in points if p.record.source == "/docs/0.md"][:2]
    store.delete_source("/docs/0.md", keep=keep)
    assert store.count() == 30 - 5 + 2
    store.set_chunk_count(keep, 2)
    records = dict(store.records(with_text=False, page=4))
    assert len(records) == 27 and all(r.text == "" and r.title in ("a", "b", "c") for r in records.values())
    assert {pid for pid, r in records.items() if r.n_chunks == 2} == set(keep)
    store.delete_source("/docs/0.md")
    assert "/docs/0.md" not in store.sources()


def test_a_source_reads_back_in_chunk_order_whole_or_a_range(store: Collection) -> None:
    store.upsert(make_points(30))
    whole = store.chunks("/docs/3.md")
    assert [r.chunk_index for r in whole] == [3, 10, 17, 24]  # every 7th point is this source's
    assert all(r.source == "/docs/3.md" and r.text for r in whole)
    assert [r.chunk_index for r in store.chunks("/docs/3.md", 4, 17)] == [10, 17]
    assert [r.chunk_index for r in store.chunks("/docs/3.md", 11)] == [17, 24]
    assert store.chunks("/docs/none.md") == [] and store.chunks("/docs/3.md", 25) == []
    store.drop()
    with pytest.raises(CollectionNotFoundError, match="run `ingest PATH` first"):
        store.chunks("/docs/3.md")


def test_a_vector_sample_is_the_stored_vectors_of_the_first_points_in_id_order(store: Collection) -> None:
    points = make_points(40)
    store.upsert(points)
    sample = store.sample_vectors(("echo", "classical"), 8)
    assert sample["echo"].shape == (8, DIM) and sample["classical"].shape == (8, DIM)
    by_id = {p.id: p for p in points}
    first = sorted(by_id)[:8]
    assert np.allclose(sample["echo"], [by_id[i].vectors["echo"] for i in first], atol=1e-6)
    assert np.allclose(sample["classical"], [by_id[i].vectors["classical"] for i in first], atol=1e-6)
    assert store.sample_vectors(("echo",), 1000)["echo"].shape == (40, DIM)


def test_drop_deletes_the_collection_and_ensure_makes_a_new_one(store: Collection) -> None:
    store.upsert(make_points(12))
    before = store.generation()
    store.drop()
    assert not store.exists() and store.count() == 0 and store.metadata() == {} and store.generation() != before
    store.drop()  # dropping a missing collection is a no-op
    store.ensure("another-fp", {"model": "other"}, DIM)
    assert store.exists() and store.fingerprint() == "another-fp" and store.count() == 0


def test_an_index_is_built_after_the_threshold_and_a_small_write_does_not_rebuild_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tuning, "INDEXING_THRESHOLD_KB", 50)  # ~200 points of two 32-d vectors
    store = open_collection(path=tmp_path / "qdrant")
    store.ensure("fp", {}, DIM)
    store.upsert(make_points(20))
    store.optimize()
    assert store.info().index == "exact"  # a small collection is searched exactly
    store.upsert(make_points(3000, seed=5))
    assert store.optimize() is True
    info = store.info()
    assert info.index == "hnsw" and info.indexed_vectors == 2 * info.points == 2 * 3000
    new = ChunkPoint(point_id("/new.md", 0, "h"), {"echo": clustered(1, 7)[0], "classical": clustered(1, 8)[0]},
                     ChunkRecord("/new.md", 0, "new"))
    store.upsert([new])
    assert store.optimize() is False  # nothing rebuilt: the new point waits in the small unindexed segment
    assert store.info().index == "partial" and "/new.md" in store.sources()
    store.close()


def test_ann_recall_against_exact_search(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tuning, "INDEXING_THRESHOLD_KB", 50)
    points = make_points(5000, seed=11)
    store = open_collection(path=tmp_path / "qdrant")
    store.ensure("fp", {}, DIM)
    for start in range(0, len(points), 1000):
        store.upsert(points[start:start + 1000])
    store.optimize()
    assert store.info().index == "hnsw"
    queries = clustered(50, 12)
    matrix = np.stack([np.asarray(p.vectors["echo"]) for p in points])
    found = store.query({"echo": queries}, k=10)["echo"]
    recall = np.mean([
        len({h.id for h in hits} & {points[j].id for j in np.argsort(-(matrix @ q))[:10]}) / 10
        for q, hits in zip(queries, found, strict=True)
    ])
    store.close()
    assert recall >= 0.95


def test_the_embedded_store_is_one_process_at_a_time_and_survives_a_reopen(tmp_path: Path) -> None:
    store = open_collection(path=tmp_path / "qdrant")
    store.ensure("fp", {"model": "m"}, DIM)
    store.upsert(make_points(10))
    with pytest.raises(StoreLockedError, match="one at a time"):
        open_collection(path=tmp_path / "qdrant")
    store.close()
    with open_collection(path=tmp_path / "qdrant") as again:
        info = again.info()
    assert (info.points, info.fingerprint, info.embedder) == (10, "fp", {"model": "m"})


def test_a_shard_the_engine_holds_elsewhere_is_refused_as_locked(tmp_path: Path) -> None:
    """The engine says so only in its message text (qdrant-edge-py 0.9: a bare Exception); this keeps the match
    honest when the engine changes."""
    with open_collection(path=tmp_path / "qdrant") as store:
        store.ensure("fp", {"model": "m"}, DIM)
    holder = tuning.edge.EdgeShard.load(str(tmp_path / "qdrant" / "collections" / "docs" / "shard"))
    try:
        with pytest.raises(StoreLockedError, match="in use by another process"):
            open_collection(path=tmp_path / "qdrant")
    finally:
        holder.close()


def test_the_index_tuning_reaches_the_engine() -> None:
    index = tuning.IndexTuning(m=8, ef_construct=64, ef=32, int8_memory=tuning.edge.Memory.Pinned)
    config = tuning.shard_config(DIM, index)
    assert (config.hnsw_config.m, config.hnsw_config.ef_construct) == (8, 64)
    assert config.quantization_config.memory == tuning.edge.Memory.Pinned
    assert [tuning.dense_params(k, index.ef).hnsw_ef for k in (10, 50)] == [32, 50]  # at least k


def write_old_format(folder: Path, points: list[ChunkPoint]) -> None:
    """A folder as echo-search wrote it before Qdrant's engine: qdrant-client local mode, the same layout."""
    client = QdrantClient(path=str(folder))
    client.create_collection(
        "docs",
        vectors_config={n: models.VectorParams(size=DIM, distance=models.Distance.DOT) for n in ("echo", "classical")},
        metadata={"fingerprint": "old-fp", "embedder": {"model": "gemma"}, "generation": 1},
    )
    client.upsert("docs", [models.PointStruct(id=p.id, payload=p.record.as_dict(),
                                              vector={n: np.asarray(v).tolist() for n, v in p.vectors.items()})
                           for p in points])
    client.close()


def test_an_old_format_folder_is_refused_then_migrated_losing_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    points = make_points(120)
    write_old_format(data / "qdrant", points)
    with pytest.raises(OldFormatError, match=re.escape(f"search migrate --data-dir {data}")):
        open_collection(data_dir=data)

    result = CliRunner().invoke(search_app, ["migrate", "--data-dir", str(data)])
    assert result.exit_code == 0, result.output
    assert (data / f"qdrant{BACKUP_SUFFIX}" / "meta.json").exists()  # the old folder is kept

    query = {"echo": clustered(3, 4)}
    with open_collection(data_dir=data) as store:
        assert (store.count(), store.fingerprint(), store.metadata()["embedder"]) == (120, "old-fp", {"model": "gemma"})
        assert dict(store.records()) == {p.id: p.record for p in points}
        migrated = store.query(query, k=10)["echo"]
    matrix = np.stack([np.asarray(p.vectors["echo"]) for p in points])
    for row, hits in zip(query["echo"], migrated, strict=True):
        assert [h.id for h in hits] == [points[j].id for j in np.argsort(-(matrix @ row))[:10]]
    with pytest.raises(Exception, match="not an old-format"):
        migrate_folder(data / "qdrant")
