"""How the `hybrid` ranking fuses echo and BM25 in the engine: one typed value (`StoreSettings.fusion_options`).

`open_collection` gives every collection the `Fusion` it is passed (`StoreSettings.collection_options` passes the
settings', `ECHO_SEARCH_FUSION`, ...); a caller that measures the choices sets `collection.fusion` and searches again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

FusionMethod = Literal["dbsf", "rrf"]


@dataclass(frozen=True)
class Fusion:
    """The fusion of a `hybrid` query: echo's and BM25's top `k * prefetch` hits each, fused by `method`."""

    method: FusionMethod = "dbsf"
    rrf_k: int = 60
    """Reciprocal rank fusion's constant (only with `method="rrf"`)."""
    weights: tuple[float, float] | None = None
    """(echo, bm25) weights of reciprocal rank fusion; None: equal."""
    prefetch: int = 5
    """Each list contributes its top k x `prefetch` hits to the fusion."""

    def describe(self) -> str:
        """E.g. "dbsf, top 5k of each" or "rrf k=60 weights 1:2, top 5k of each" (for reports)."""
        method = self.method if self.method == "dbsf" else f"rrf k={self.rrf_k}"
        if self.method == "rrf" and self.weights is not None:
            method += f" weights {self.weights[0]:g}:{self.weights[1]:g}"
        return f"{method}, top {self.prefetch}k of each"
