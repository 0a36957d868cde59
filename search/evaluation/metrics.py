"""Metric functions: Spearman correlation, pairwise accuracy, and nDCG / Recall / MRR at a cutoff."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import spearmanr


def spearman(predicted: Sequence[float] | np.ndarray, gold: Sequence[float] | np.ndarray) -> float:
    """Spearman rank correlation x 100 (ties get their average rank)."""
    if len(predicted) != len(gold) or len(gold) < 2:
        raise ValueError("spearman needs two sequences of the same length, at least 2")
    return float(spearmanr(predicted, gold).statistic) * 100


def pair_accuracy(positive: np.ndarray, negative: np.ndarray) -> float:
    """Percentage of rows where the positive similarity is strictly above the negative one."""
    if len(positive) == 0:
        raise ValueError("pair_accuracy needs at least one row")
    return float(np.mean(np.asarray(positive) > np.asarray(negative))) * 100


def ndcg_at_k(ranking: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (trec_eval's and BEIR's): sum rel / log2(rank + 1), over the ideal ordering."""
    dcg = sum(relevance.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(ranking[:k], start=1))
    ideal = sorted((r for r in relevance.values() if r > 0), reverse=True)[:k]
    idcg = sum(r / math.log2(rank + 1) for rank, r in enumerate(ideal, start=1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranking: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """Share of the relevant documents (score > 0) found in the top k."""
    relevant = {doc for doc, r in relevance.items() if r > 0}
    return len(relevant.intersection(ranking[:k])) / len(relevant) if relevant else 0.0


def mrr_at_k(ranking: Sequence[str], relevance: Mapping[str, int], k: int = 10) -> float:
    """1 / rank of the first relevant document in the top k, else 0."""
    for rank, doc in enumerate(ranking[:k], start=1):
        if relevance.get(doc, 0) > 0:
            return 1.0 / rank
    return 0.0


def retrieval_scores(
    rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]], k: int = 10
) -> dict[str, float]:
    """Mean nDCG@k, Recall@k and MRR@k x 100 over the queries that have rankings and relevant documents."""
    judged = [q for q in rankings if any(r > 0 for r in qrels.get(q, {}).values())]
    if not judged:
        raise ValueError("no query has both a ranking and a relevant document in the qrels")
    return {
        f"nDCG@{k}": 100 * float(np.mean([ndcg_at_k(rankings[q], qrels[q], k) for q in judged])),
        f"Recall@{k}": 100 * float(np.mean([recall_at_k(rankings[q], qrels[q], k) for q in judged])),
        f"MRR@{k}": 100 * float(np.mean([mrr_at_k(rankings[q], qrels[q], k) for q in judged])),
    }
