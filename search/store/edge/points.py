"""Writes of points to the embedded engine: chunk points with their dense vectors, payload and BM25 vector, and the
BM25 vectors alone (`Collection.ensure_bm25`), each as one engine operation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import qdrant_edge as edge

from search.store import bm25
from search.store.schema import BM25, ChunkPoint


def upsert_points(points: Sequence[ChunkPoint], sparse: bool) -> tuple[edge.UpdateOperation, int]:
    """The write of `points` (with their BM25 vectors when `sparse`), and about how many bytes it writes."""
    payloads = [p.record.as_dict() for p in points]
    need = sum(3 * 4 * sum(np.size(v) for v in p.vectors.values()) + 2 * len(str(payload))
               for p, payload in zip(points, payloads, strict=True))
    operation = edge.UpdateOperation.upsert_points([
        edge.Point(p.id, {**{name: np.asarray(v, dtype=np.float32).tolist() for name, v in p.vectors.items()},
                          **({BM25: bm25.document_vector(p.record.text)} if sparse else {})},
                   payload)
        for p, payload in zip(points, payloads, strict=True)
    ])
    return operation, need


def update_bm25(texts: list[tuple[str, str]]) -> edge.UpdateOperation:
    """The write of the BM25 vector of each (point id, text), leaving the dense vectors and the payload alone."""
    return edge.UpdateOperation.update_vectors(
        [edge.PointVectors(pid, {BM25: bm25.document_vector(text)}) for pid, text in texts]
    )
