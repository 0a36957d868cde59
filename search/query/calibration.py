"""Scores a person can read: how far a hit stands above the collection's typical chunk, for this query.

A causal LM's vectors share a large common direction, more so at the intermediate layer the packaged model pools:
unrelated chunks can score a cosine of 0.95 and the answer 0.97. The ranking is right, but the cosine alone cannot
tell a strong match from a weak one. The calibration used here leaves the ranking as it is: for each query, the
cosines to a fixed sample of the collection's own chunks give that query's background (mean and spread), and each
hit's `z` is its cosine in standard deviations above that mean. A typical chunk has z near 0. On the dev sets a relevant
document's z averaged 2.0-2.4, an irrelevant one's 0.0, and z told them apart better than the raw cosine did
(docs/evaluation.md, "Scores a person can read").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

SAMPLE_SIZE = 256
"""Chunks in the background sample: enough for a stable mean and spread, one small matrix product per query."""
MIN_SAMPLE = 16
"""Fewer chunks than this give no calibration (z is left out): a spread over a handful of chunks means little."""
STRONG = 3.0
FAIR = 2.0
"""The z from which `strength` says "strong" and "fair"."""


@dataclass(frozen=True)
class Background:
    """A sample of the collection's vectors per name (`"echo"`, `"classical"`), taken at one write generation."""

    samples: Mapping[str, np.ndarray]
    generation: int

    def z_scores(self, name: str, query: np.ndarray, scores: Sequence[float]) -> list[float | None]:
        """`scores` (cosines of one query's hits on vector `name`) as standard deviations above the query's mean
        cosine to the sample; None for each when the sample is too small."""
        sample = self.samples.get(name)
        if sample is None or len(sample) < MIN_SAMPLE:
            return [None] * len(scores)
        background = sample @ np.asarray(query, dtype=np.float32)
        mean, spread = float(background.mean()), max(float(background.std()), 1e-6)
        return [round((s - mean) / spread, 2) for s in scores]


def strength(z: float | None) -> str:
    """A word for a z score: "strong" (>= 3), "fair" (>= 2), "weak" below, "" without one. On the dev sets
    (docs/evaluation.md, "Scores a person can read") 64-100 % of the pairs at z >= 3 were relevant, 25-47 % at
    z >= 2, and a typical unrelated chunk sits near 0."""
    if z is None:
        return ""
    return "strong" if z >= STRONG else "fair" if z >= FAIR else "weak"

