"""Centering: subtract a corpus mean from the embeddings, so that cosine similarity compares what differs.

The vectors of a causal LM share a large common direction; subtracting the mean of a corpus's (L2-normalised)
vectors and normalising again removes it. The means belong to the embedder's description, so a collection
records them with its fingerprint and a query is centered exactly like the documents it is compared with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


def normalise(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero)."""
    return matrix / np.maximum(np.linalg.norm(matrix, axis=-1, keepdims=True), 1e-12)


@dataclass(frozen=True, eq=False)
class Center:
    """Mean of the L2-normalised vectors per output (`"echo"`, `"classical"`), subtracted before normalising again.

    Build it with `Embedder.fit_center(corpus)`, or `Center.from_description(...)` from a collection's stored
    embedder description (`Embedder.describe()["center"]`)."""

    means: Mapping[str, np.ndarray]

    def apply(self, name: str, matrix: np.ndarray) -> np.ndarray:
        """`matrix` (normalised rows) centered with the mean of output `name`, normalised again."""
        if name not in self.means:
            raise ValueError(f"this centering has no mean for {name!r} vectors (it has: {', '.join(self.means)})")
        return normalise(matrix - self.means[name]).astype(np.float32)

    def describe(self) -> dict[str, object]:
        """The means as plain lists, and a digest of them (what a collection stores)."""
        return {"digest": self.digest, "means": {k: [float(x) for x in v] for k, v in sorted(self.means.items())}}

    @property
    def digest(self) -> str:
        h = hashlib.sha256()
        for name, mean in sorted(self.means.items()):
            h.update(name.encode() + np.asarray(mean, dtype=np.float32).tobytes())
        return h.hexdigest()[:12]

    @classmethod
    def from_description(cls, description: Mapping[str, object]) -> Center:
        """The centering recorded in an embedder description (`describe()`, or its `"center"` entry)."""
        entry = description.get("center", description)
        means = entry.get("means") if isinstance(entry, Mapping) else None
        if not isinstance(means, Mapping) or not means:
            raise ValueError("this description records no centering means")
        return cls({str(k): np.asarray(v, dtype=np.float32) for k, v in means.items()})
