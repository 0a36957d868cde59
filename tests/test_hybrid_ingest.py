"""BM25 and hybrid through the commands: an old collection gets BM25 on the next `ingest` without running the
model, and `search eval retrieval --json` reports the bm25 and hybrid rows of an ingested collection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.cli import app as ingest_app
from search.evaluation.cli import eval_app
from search.evaluation.data import EXAMPLE_DIR
from search.store import BM25, open_collection
from search.store.schema import BM25_META


@pytest.fixture
def env(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "ECHO_SEARCH_COLLECTION", "SEARCH_URL", "ECHO_SEARCH_FUSION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ECHO_SEARCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ECHO_SEARCH_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("ECHO_SEARCH_DEVICE", "cpu")
    monkeypatch.setenv("ECHO_SEARCH_DTYPE", "float32")
    return tmp_path / "data"


def strip_bm25(data: Path) -> None:
    """Make the ingested collection look like one from before BM25: no sparse vector, no mark."""
    import qdrant_edge as edge

    with open_collection(data_dir=data) as store:
        store._apply(edge.UpdateOperation.delete_vector_name(BM25))  # type: ignore[attr-defined]
        store._set_metadata(BM25_META, None)  # type: ignore[attr-defined]


def test_the_next_ingest_adds_bm25_without_embedding_and_eval_reports_it(
    env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    first = runner.invoke(ingest_app, [str(EXAMPLE_DIR / "corpus"), "--json"])
    assert first.exit_code == 0, first.output
    strip_bm25(env)
    with open_collection(data_dir=env) as store:
        assert not store.has_bm25()
        vectors_before = store.shard.scroll(edge_scroll())[0]  # type: ignore[attr-defined]

    eval_args = ["retrieval", "--queries", str(EXAMPLE_DIR / "queries.jsonl"), "--qrels",
                 str(EXAMPLE_DIR / "qrels.tsv"), "--json"]
    old = runner.invoke(eval_app, eval_args)
    assert old.exit_code == 0, old.output
    old_report = json.loads(old.stdout)
    assert [r["method"] for r in old_report["rows"]] == ["echo (collection)", "classical (collection)"]
    assert "run `ingest`" in old_report["notes"][0]

    from embedder import Embedder

    def no_forward(*args: object, **kwargs: object) -> None:
        raise AssertionError("the upgrade ran the model")

    with monkeypatch.context() as patch:
        patch.setattr(Embedder, "encode", no_forward)
        again = runner.invoke(ingest_app, [str(EXAMPLE_DIR / "corpus"), "--json"])
    assert again.exit_code == 0, again.output
    with open_collection(data_dir=env) as store:
        assert store.has_bm25()
        after = {str(r.id): {n: v for n, v in r.vector.items() if n != BM25}
                 for r in store.shard.scroll(edge_scroll())[0]}  # type: ignore[attr-defined]
    assert after == {str(r.id): dict(r.vector) for r in vectors_before}

    monkeypatch.setenv("ECHO_SEARCH_FUSION", "rrf")
    monkeypatch.setenv("ECHO_SEARCH_RRF_K", "10")
    new = runner.invoke(eval_app, eval_args)
    assert new.exit_code == 0, new.output
    report = json.loads(new.stdout)
    rows = {r["method"]: r for r in report["rows"]}
    assert list(rows) == ["echo (collection)", "classical (collection)", "bm25 (collection)", "hybrid (collection)"]
    assert report["notes"] == [] and "rrf k=10" in rows["hybrid (collection)"]["description"]
    assert rows["echo (collection)"]["scores"] == {r["method"]: r for r in old_report["rows"]}[
        "echo (collection)"]["scores"]
    for name in ("bm25 (collection)", "hybrid (collection)"):
        assert set(rows[name]["scores"]) == {"nDCG@10", "Recall@10", "MRR@10"}
        assert all(0 <= v <= 100 for v in rows[name]["scores"].values())


def edge_scroll():  # noqa: ANN201 - a qdrant_edge ScrollRequest
    import qdrant_edge as edge

    return edge.ScrollRequest(limit=10_000, with_vector=True)
