"""Helpers for the store tests: points with random unit vectors (importable by a test's child process too)."""

from __future__ import annotations

import numpy as np

from search.store import ChunkPoint, ChunkRecord, point_id

DIM = 32


def random_points(n: int, dim: int = DIM, seed: int = 0) -> list[ChunkPoint]:
    """`n` points over five sources, with random unit echo and classical vectors of `dim` dimensions."""
    rng = np.random.default_rng(seed)
    rows = rng.standard_normal((2, n, dim)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=2, keepdims=True)
    return [ChunkPoint(point_id(f"/docs/{i % 5}.md", i, "h"), {"echo": rows[0, i], "classical": rows[1, i]},
                       ChunkRecord(f"/docs/{i % 5}.md", i, f"chunk {i}")) for i in range(n)]
