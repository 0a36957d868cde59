"""Calibrated scores (`Hit.z`): per query, standard deviations above the mean cosine to a sample of the chunks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from search.query.calibration import MIN_SAMPLE, SAMPLE_SIZE, Background, strength
from search.query.request import SearchQuery
from search.query.searcher import Searcher
from search.store import open_collection
from tests.search_helpers import fill

MANY = {f"/docs/{i}.md": [f"Note {i}: item {i * 7} costs {i + 3} coins.", f"Page {i} of the manual, part {i % 4}."]
        for i in range(12)}


def test_z_is_the_score_in_standard_deviations_above_the_sample_mean() -> None:
    rng = np.random.default_rng(0)
    sample = rng.standard_normal((40, 8)).astype(np.float32)
    query = rng.standard_normal(8).astype(np.float32)
    background = Background({"echo": sample}, generation=1)
    cosines = sample @ query
    z = background.z_scores("echo", query, [float(cosines.max()), float(cosines.mean())])
    assert z[0] == pytest.approx((cosines.max() - cosines.mean()) / cosines.std(), abs=0.01)
    assert z[1] == pytest.approx(0.0, abs=0.01)
    assert Background({"echo": sample[: MIN_SAMPLE - 1]}, 1).z_scores("echo", query, [0.5]) == [None]
    assert background.z_scores("classical", query, [0.5, 0.4]) == [None, None]
    assert [strength(z) for z in (3.0, 2.5, 1.9, None)] == ["strong", "fair", "weak", ""]


def test_searcher_hits_carry_z_from_the_collections_own_sample(tmp_path: Path, tiny_embedder) -> None:
    store = open_collection(path=tmp_path / "qdrant")
    fill(store, tiny_embedder, MANY)
    searcher = Searcher(store=store, embedder=tiny_embedder)
    try:
        result = searcher.search(SearchQuery("What does item 14 cost?", k=5))
        query = tiny_embedder.encode(["What does item 14 cost?"], kind="query")
        sample = store.sample_vectors(("echo",), SAMPLE_SIZE)["echo"]
        background = sample @ query.echo[0]
        for hit in result.echo:
            assert hit.z == pytest.approx((hit.score - background.mean()) / background.std(), abs=0.02)
        assert [h.z for h in result.echo] == sorted((h.z for h in result.echo), reverse=True)  # ranking unchanged
        assert all(h.z is not None for h in result.classical)
        before = searcher._background
        fill(store, tiny_embedder, {"/docs/new.md": ["A new chunk about coins."]})
        searcher.search(SearchQuery("coins", k=3))
        assert searcher._background is not before  # a write takes a new sample
    finally:
        store.close()


def test_a_tiny_collection_gets_no_z(tmp_path: Path, tiny_embedder) -> None:
    store = open_collection(path=tmp_path / "qdrant")
    fill(store, tiny_embedder, {"/docs/a.md": ["One chunk only."]})
    try:
        (hit,) = Searcher(store=store, embedder=tiny_embedder).search(SearchQuery("chunk", k=3)).echo
        assert hit.z is None
    finally:
        store.close()
