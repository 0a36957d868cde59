"""Collections with constructed rankings for the UI tests: chosen echo and classical cosines to a query."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from qdrant_client import models

from embedder import Embedder
from embedder.templates import DEFAULT_INSTRUCTION
from search.store import CHUNK_INDEX, CLASSICAL, CONTENT_HASH, ECHO, SOURCE, TEXT, TITLE, Store, point_id


@dataclass(frozen=True)
class Chunk:
    name: str
    text: str
    echo_cos: float
    classical_cos: float


QUERY = "where does the heron nest"
# k=4. Echo order: A B C D (E far). Classical order: C A E B (D far).
CHUNKS = (
    Chunk("alpha.md", "Alpha: the grey heron builds its nest in tall trees near water.", 0.9, 0.8),
    Chunk("bravo.md", "Bravo: colonies of herons, called heronries, return every spring.", 0.8, 0.6),
    Chunk("charlie.md", "Charlie: a nest of sticks, lined with grass, high above the lake.", 0.7, 0.9),
    Chunk("delta.md", "Delta: storks and cranes are often confused with herons.", 0.6, 0.1),
    Chunk("echo.md", "Echo: the river floods in March and the fields turn to marsh.", 0.1, 0.7),
)
K = 4
# What the UI must show for that case (this list relative to the other one).
ECHO_MARKERS = {"alpha.md": "▲ 1 · classical #2", "bravo.md": "▲ 2 · classical #4",
                "charlie.md": "▼ 2 · classical #1", "delta.md": "only here"}
CLASSICAL_MARKERS = {"charlie.md": "▲ 2 · echo #3", "alpha.md": "▼ 1 · echo #1",
                     "echo.md": "only here", "bravo.md": "▼ 2 · echo #2"}


def _with_cosine(target: np.ndarray, cos: float, rng: np.random.Generator) -> list[float]:
    """A unit vector whose cosine with the unit vector `target` is exactly `cos`."""
    noise = rng.standard_normal(target.shape[0])
    ortho = noise - noise.dot(target) * target
    ortho /= np.linalg.norm(ortho)
    return (cos * target + np.sqrt(1 - cos * cos) * ortho).astype(np.float32).tolist()


def build_collection(folder: Path, collection: str, embedder: Embedder, docs_dir: Path) -> None:
    """Write CHUNKS into the embedded store under `folder` so that QUERY ranks them as described above."""
    query = embedder.encode([QUERY], kind="query", instruction=DEFAULT_INSTRUCTION)
    assert query.classical is not None
    q_echo, q_classical = query.echo[0], query.classical[0]
    rng = np.random.default_rng(0)
    store = Store.open(path=folder, collection=collection)
    try:
        store.ensure_collection(embedder.fingerprint, embedder.describe(), embedder.dim)
        points = []
        for chunk in CHUNKS:
            source = str(docs_dir / chunk.name)
            digest = hashlib.sha256(chunk.text.encode()).hexdigest()
            vectors = {ECHO: _with_cosine(q_echo, chunk.echo_cos, rng),
                       CLASSICAL: _with_cosine(q_classical, chunk.classical_cos, rng)}
            payload = {SOURCE: source, CHUNK_INDEX: 0, TEXT: chunk.text, CONTENT_HASH: digest, TITLE: "Birds"}
            points.append(models.PointStruct(id=point_id(source, 0, digest), vector=vectors, payload=payload))
        store.client.upsert(collection, points)
    finally:
        store.close()
