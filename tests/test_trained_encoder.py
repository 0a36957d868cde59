"""The trained reference encoder (all-MiniLM-L6-v2, the extra echo-search[minilm]) and its `search eval` row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from embedder import Embedder
from embedder.trained import load_minilm, minilm_dir
from search.evaluation.data import EXAMPLE_DIR
from search.evaluation.methods import pick_methods
from search.evaluation.tasks import run_retrieval
from search.store import open_collection

TEXTS = ["How do I rotate the logs?", "Log files are rotated weekly by logrotate.", "A cat sleeps on the sofa.",
         "word " * 400]  # the last one longer than the model's 256 word pieces: cut, as sentence-transformers cuts


def test_minilm_vectors_are_what_sentence_transformers_gives() -> None:
    from sentence_transformers import SentenceTransformer  # installed with the extra, only used to check

    ours = load_minilm().embed(TEXTS)
    reference = SentenceTransformer(str(minilm_dir()), device="cpu").encode(TEXTS, normalize_embeddings=True)
    assert ours.shape == (4, 384)
    np.testing.assert_allclose(ours, reference, atol=1e-5)
    assert ours[0] @ ours[1] > ours[0] @ ours[2] + 0.3  # a trained encoder: the answer is far closer than a cat


def test_minilm_row_in_retrieval_with_its_costs(tiny_embedder: Embedder, tmp_path: Path) -> None:
    from ingest.options import IngestOptions
    from ingest.pipeline import ingest_paths
    from search.query.searcher import Searcher

    store = open_collection(path=tmp_path / "qdrant")
    ingest_paths(IngestOptions(paths=[EXAMPLE_DIR / "corpus"]), store, tiny_embedder)
    searcher = Searcher(store=store, embedder=tiny_embedder)
    try:
        report = run_retrieval(searcher, EXAMPLE_DIR / "queries.jsonl", EXAMPLE_DIR / "qrels.tsv",
                               emb=tiny_embedder, reembed=pick_methods("minilm", retrieval=True))
    finally:
        store.close()
    rows = {r.method: r for r in report.rows}
    assert list(rows) == ["echo (collection)", "classical (collection)", "bm25 (collection)", "hybrid (collection)",
                          "minilm"]
    minilm = rows["minilm"]
    assert minilm.scores["nDCG@10"] >= 80  # 8 plain questions over 8 documents: a trained encoder gets them
    assert minilm.index_seconds is not None and minilm.index_seconds > 0
    assert minilm.ms_per_query is not None and minilm.ms_per_query > 0
    assert all(r.ms_per_query is not None and r.index_seconds is None for n, r in rows.items() if n != "minilm")


def test_minilm_row_says_how_to_install_it_when_absent(monkeypatch: pytest.MonkeyPatch, tiny_embedder: Embedder,
                                                       tmp_path: Path) -> None:
    import search.evaluation.tasks
    from search.evaluation.tasks import _rows

    monkeypatch.setattr(search.evaluation.tasks, "minilm_dir", lambda: None)
    [row] = _rows(tiny_embedder, pick_methods("minilm", retrieval=True), 1, lambda m, w: {}, None)
    assert row.scores == {} and "echo-search[minilm]" in row.note
