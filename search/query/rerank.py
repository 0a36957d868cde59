"""The `rerank` ranking: a first stage's top hits rescored by the model, by query likelihood.

Each of the first stage's top `depth` hits is scored by how likely the embedder's own language model finds the
question after the hit's passage (`Embedder.rerank`: the mean log-probability of the question's tokens, a number at
most 0, higher is better), and they are ordered by that score. Hits past `depth` follow in the first stage's order
with the first stage's scores. Nothing is cached: every search reads the passages the store returns now.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from embedder import Embedder
from search.query.results import Hit


def rerank_hits(embedder: Embedder, question: str, first: list[Hit], depth: int, passage_tokens: int,
                k: int) -> list[Hit]:
    """The top `k` of `first` (a first stage's hits, best first) once its top `depth` are reordered by the model's
    query-likelihood scores (`Hit.score`: the mean log-probability; `z` None)."""
    top, rest = first[:depth], first[depth:]
    if not top:
        return []
    scores = embedder.rerank(question, [hit.text for hit in top], passage_tokens=passage_tokens).scores
    order = np.argsort(-scores, kind="stable")
    ranked = [dataclasses.replace(top[i], score=float(scores[i]), z=None) for i in order] + rest
    return [dataclasses.replace(hit, rank=rank) for rank, hit in enumerate(ranked[:k], start=1)]
