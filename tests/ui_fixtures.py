"""UI test support: a collection with constructed rankings (chosen cosines to a query) and AppTest helpers."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from embedder import Embedder
from embedder.templates import DEFAULT_INSTRUCTION
from search.store import CLASSICAL, ECHO, ChunkPoint, ChunkRecord, open_collection, point_id

APP = str(Path(__file__).resolve().parents[1] / "ui" / "app.py")


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
    store = open_collection(path=folder, collection=collection)
    try:
        store.ensure(embedder.fingerprint, embedder.describe(), embedder.dim)
        points = []
        for chunk in CHUNKS:
            source = str(docs_dir / chunk.name)
            digest = hashlib.sha256(chunk.text.encode()).hexdigest()
            vectors = {ECHO: _with_cosine(q_echo, chunk.echo_cos, rng),
                       CLASSICAL: _with_cosine(q_classical, chunk.classical_cos, rng)}
            record = ChunkRecord(source, 0, chunk.text, content_hash=digest, title="Birds")
            points.append(ChunkPoint(point_id(source, 0, digest), vectors, record))
        store.upsert(points)
    finally:
        store.close()


@pytest.fixture(name="ui_env")
def ui_env_fixture(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point the app at a fresh data folder and the tiny model; release cached resources afterwards."""
    for name in ("SEARCH_URL", "QDRANT_URL", "QDRANT_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ECHO_SEARCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ECHO_SEARCH_COLLECTION", "ui-test")
    monkeypatch.setenv("ECHO_SEARCH_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("ECHO_SEARCH_DTYPE", "float32")
    yield tmp_path / "data"
    st.cache_resource.clear()


@pytest.fixture(name="built")
def built_fixture(ui_env: Path, tiny_embedder, tmp_path: Path) -> Path:
    build_collection(ui_env / "qdrant", "ui-test", tiny_embedder, tmp_path / "docs")
    return ui_env


@pytest.fixture(name="built_tied")
def built_tied_fixture(ui_env: Path, tied_model_dir: Path, tied_embedder, tmp_path: Path,
                       monkeypatch: pytest.MonkeyPatch) -> Path:
    """The same collection, made and served by a tiny model that can rerank (its LM head is tied)."""
    monkeypatch.setenv("ECHO_SEARCH_MODEL", str(tied_model_dir))
    build_collection(ui_env / "qdrant", "ui-test", tied_embedder, tmp_path / "docs")
    return ui_env


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    return at


def ask(at: AppTest, k: int = K) -> AppTest:
    """Ask the test question for the top `k` (with whatever else the test set on `at`), and check the page shows no
    exception and no error."""
    at.text_input[0].input(QUERY)
    at.number_input[0].set_value(k)
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    return at


def column_titled(at: AppTest, title: str):
    matches = [c for c in at.columns if any(s.value == title for s in c.subheader)]
    assert len(matches) == 1, f"no single column titled {title!r}"
    return matches[0]


def markers_by_source(column) -> dict[str, str]:
    """{file name: the rank-movement marker line} for each hit rendered in a column."""
    heads = [m.value for m in column.markdown if m.value.startswith("**#")]
    sources = [c.value.split(" · ")[0] for c in column.caption if " · chunk " in c.value]
    assert len(heads) == len(sources)
    return dict(zip(sources, heads, strict=True))
