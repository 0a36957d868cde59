"""Reads of points from the embedded engine, without a query: payloads page by page, a sample of vectors, and the
full read of every point that `search info --check` makes.

Each engine call runs inside `reading()`, the collection's translation of engine errors (damage, a full disk)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any

import numpy as np
import qdrant_edge as edge

from search.store.schema import CHUNK_INDEX, CONTENT_HASH, N_CHUNKS, SOURCE, VECTOR_NAMES

Reading = Callable[[], AbstractContextManager[None]]
"""The context every engine call runs in (`EdgeCollection._reading`)."""


def payloads(shard: edge.EdgeShard, reading: Reading, fields: Sequence[str] | None, page: int,
             flt: edge.Filter | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(id, payload) of every point `flt` matches (all without one), restricted to `fields` when given, without
    vectors, `page` points per engine call."""
    offset: Any = None
    while True:
        with reading():
            records, offset = shard.scroll(edge.ScrollRequest(
                offset=offset, limit=page, filter=flt, with_payload=list(fields) if fields is not None else True,
                with_vector=False,
            ))
        for r in records:
            yield str(r.id), dict(r.payload or {})
        if offset is None:
            return


def sample_vectors(shard: edge.EdgeShard | None, names: Sequence[str], n: int) -> dict[str, np.ndarray]:
    """The vectors of each name of the first `n` points in id order, as (m, dim) float32 matrices (none without a
    shard)."""
    records = shard.scroll(edge.ScrollRequest(limit=n, with_payload=False, with_vector=list(names)))[0] \
        if shard is not None and n > 0 else []
    vectors = [r.vector if isinstance(r.vector, dict) else {} for r in records]
    return {name: np.asarray([v[name] for v in vectors], dtype=np.float32).reshape(len(records), -1)
            for name in names}


def damage(shard: edge.EdgeShard, reading: Reading, dim: int, page: int) -> tuple[int, str | None]:
    """Read every point once, vectors and payload: (points read, None) or, at the first damage found, (points read
    so far, what is damaged): a vector that is missing, of the wrong size or not numbers, fewer points read than
    counted, or a file whose chunks are not all there (fewer points of its content than the `n_chunks` they
    record)."""
    seen, offset = 0, None
    chunks: dict[tuple[str, str], tuple[int, set[Any]]] = {}  # (source, content) -> (n_chunks, indexes seen)
    while True:
        with reading():
            records, offset = shard.scroll(edge.ScrollRequest(offset=offset, limit=page, with_payload=True,
                                                              with_vector=True))
        for r in records:
            vectors = r.vector if isinstance(r.vector, dict) else {}
            for name in VECTOR_NAMES:
                vector = vectors.get(name)
                if not isinstance(vector, list) or len(vector) != dim:
                    return seen, f"point {r.id} lacks its {name} vector or has one of the wrong size"
                if not np.isfinite(vector).all():
                    return seen, f"the {name} vector of point {r.id} holds values that are not numbers"
            payload = r.payload or {}
            if isinstance(n_chunks := payload.get(N_CHUNKS), int) and n_chunks >= 0:
                content = (str(payload.get(SOURCE)), str(payload.get(CONTENT_HASH)))
                chunks.setdefault(content, (n_chunks, set()))[1].add(payload.get(CHUNK_INDEX))
        seen += len(records)
        if offset is None:
            break
    with reading():
        counted = int(shard.count(edge.CountRequest(exact=True)))
    if seen != counted:
        return seen, f"{counted} points are counted but {seen} could be read"
    for (source, _), (n_chunks, indexes) in sorted(chunks.items()):
        if len(indexes) < n_chunks:
            return seen, f"{n_chunks - len(indexes)} of the {n_chunks} chunks of {source} are missing"
    return seen, None
