"""Metric functions of `search eval` on hand-computable cases, and the BEIR file readers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from search.evaluation.data import DataError, load_qrels, load_queries, load_sts, load_toy
from search.evaluation.metrics import mrr_at_k, ndcg_at_k, pair_accuracy, recall_at_k, retrieval_scores, spearman
from search.evaluation.tasks import corpus_ids_for


def test_ndcg_recall_mrr_single_relevant_at_rank_two() -> None:
    ranking, rel = ["a", "b", "c"], {"b": 1}
    assert ndcg_at_k(ranking, rel) == pytest.approx(1 / math.log2(3))
    assert recall_at_k(ranking, rel) == 1.0
    assert mrr_at_k(ranking, rel) == 0.5


def test_two_relevant_one_found() -> None:
    ranking, rel = ["a", "b", "c"], {"a": 1, "d": 1}
    assert ndcg_at_k(ranking, rel) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert recall_at_k(ranking, rel) == 0.5
    assert mrr_at_k(ranking, rel) == 1.0


def test_graded_relevance_uses_linear_gain() -> None:
    assert ndcg_at_k(["b", "a"], {"a": 2, "b": 1}) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))


def test_cutoff_and_zero_scores() -> None:
    ranking, rel = ["x", "y", "b"], {"b": 1, "z": 0}
    assert ndcg_at_k(ranking, rel, k=2) == recall_at_k(ranking, rel, k=2) == mrr_at_k(ranking, rel, k=2) == 0.0
    assert recall_at_k(ranking, rel, k=3) == 1.0  # z (score 0) is not relevant


def test_retrieval_scores_average_over_judged_queries_only() -> None:
    rankings = {"q1": ["a"], "q2": ["x", "b"], "q3": ["c"]}
    qrels = {"q1": {"a": 1}, "q2": {"b": 1}, "q3": {"c": 0}}  # q3 has no relevant document: skipped
    scores = retrieval_scores(rankings, qrels, k=10)
    assert scores["MRR@10"] == pytest.approx(75.0)
    assert scores["Recall@10"] == pytest.approx(100.0)
    assert scores["nDCG@10"] == pytest.approx(50 * (1 + 1 / math.log2(3)))
    with pytest.raises(ValueError, match="no query"):
        retrieval_scores({"q3": ["c"]}, qrels)


def test_spearman_and_pair_accuracy() -> None:
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(80.0)  # 1 - 6 * 2 / (4 * 15)
    assert spearman([3, 2, 1], [1, 2, 3]) == pytest.approx(-100.0)
    assert pair_accuracy(np.array([0.9, 0.1, 0.5]), np.array([0.1, 0.2, 0.5])) == pytest.approx(100 / 3)


def test_corpus_ids_match_whole_path_or_trailing_part() -> None:
    sources = ["/x/docs/setup.md", "/x/other/setup.md", "/x/a.md", "/x/b.md"]
    mapping = corpus_ids_for(sources, {"docs/setup.md", "./a.md", "/x/b.md"})
    assert mapping == {"/x/docs/setup.md": "docs/setup.md", "/x/other/setup.md": "/x/other/setup.md",
                       "/x/a.md": "./a.md", "/x/b.md": "/x/b.md"}


def test_beir_readers(tmp_path: Path) -> None:
    (tmp_path / "queries.jsonl").write_text('{"_id": 1, "text": "hello"}\n\n{"_id": "2", "text": "bye"}\n')
    (tmp_path / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n1\ta.md\t1\n1\tb.md\t0\n2\tc.md\t2\n")
    assert load_queries(tmp_path / "queries.jsonl") == {"1": "hello", "2": "bye"}
    assert load_qrels(tmp_path / "qrels.tsv") == {"1": {"a.md": 1, "b.md": 0}, "2": {"c.md": 2}}
    (tmp_path / "bad.tsv").write_text("header\n1 a.md 1\n")
    with pytest.raises(DataError, match="bad.tsv:2"):
        load_qrels(tmp_path / "bad.tsv")
    with pytest.raises(DataError, match="file not found"):
        load_queries(tmp_path / "missing.jsonl")


def test_shipped_data() -> None:
    toy = load_toy()
    assert len(toy) >= 40 and {r.structure for r in toy} == {"early", "late"}
    dev = load_sts("dev")
    assert len(dev) == 1500 and all(0 <= p.score <= 5 and p.first and p.second for p in dev)
    assert dev[0].first == "A man with a hard hat is dancing."
    with pytest.raises(DataError, match="train' or 'dev"):
        load_sts("test")  # type: ignore[arg-type]
