"""No cached answer outlives a write: the store's write generation, read by the service on every request."""

from __future__ import annotations

from pathlib import Path

import httpx
from qdrant_client import QdrantClient

from ingest import IngestOptions, ingest_paths
from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.store import Collection, open_collection
from search.store.server import ServerCollection
from tests.search_helpers import fill, running


def test_every_write_changes_the_generation(tmp_path: Path, tiny_embedder) -> None:
    for store in (open_collection(url=":memory:"), open_collection(path=tmp_path / "embedded")):
        _check_generations(store, tiny_embedder)
        store.close()


def _check_generations(store: Collection, tiny_embedder) -> None:
    assert store.generation() == 0  # no collection yet
    fill(store, tiny_embedder)
    seen = [store.generation()]
    store.set_chunk_count([next(store.records())[0]], 1)
    seen.append(store.generation())
    store.delete_source("/docs/x")
    seen.append(store.generation())
    assert 0 < seen[0] < seen[1] < seen[2]
    assert store.info().fingerprint == tiny_embedder.fingerprint  # the fingerprint metadata is kept


def test_reingesting_a_changed_file_with_the_same_chunk_count_is_never_answered_from_the_cache(
    tmp_path: Path, tiny_embedder
) -> None:
    """`ingest` and `search serve` as two clients of one Qdrant: the point count does not change, the text does."""
    client = QdrantClient(":memory:")
    writer = ServerCollection(client, "docs", ":memory:")
    reader = ServerCollection(client, "docs", ":memory:")
    doc = tmp_path / "docs" / "notes.txt"
    doc.parent.mkdir()
    doc.write_text("The kettle is descaled with white vinegar every month.\n")
    ingest_paths(IngestOptions(paths=[doc.parent]), writer, tiny_embedder)
    body = {"query": "how is the kettle descaled?", "k": 1, "mode": "echo"}
    with running(create_app(Searcher(store=reader, embedder=tiny_embedder), ServiceSettings())) as url:
        first = httpx.post(f"{url}/search", json=body).json()
        assert "white vinegar" in first["echo"][0]["text"] and not first["cached"]
        assert httpx.post(f"{url}/search", json=body).json()["cached"]  # the cache works while nothing changes

        points = reader.info().points
        doc.write_text("The kettle is descaled with citric acid twice a year.\n")
        report = ingest_paths(IngestOptions(paths=[doc.parent]), writer, tiny_embedder)
        assert report.count("updated") == 1 and reader.info().points == points

        again = httpx.post(f"{url}/search", json=body).json()
        assert not again["cached"]
        assert "citric acid" in again["echo"][0]["text"]
