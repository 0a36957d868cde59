"""Runs the Python examples of docs/langchain.md (the README's LangChain section) top to bottom, as a reader would."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from embedder import Embedder
from ingest.options import IngestOptions
from ingest.pipeline import ingest_paths
from search.settings import StoreSettings
from search.store import open_collection
from tests.langchain_fixtures import write_fixture_folder

DOC = Path(__file__).resolve().parent.parent / "docs" / "langchain.md"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(), flags=re.S | re.M)


def test_the_docs_have_examples() -> None:
    assert len(code_blocks("python")) >= 6
    assert code_blocks("bash") == ["ingest notes/\n"]  # what the test below does through the Python API


@pytest.mark.slow
def test_the_python_examples_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], real_embedder: Embedder
) -> None:
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "ECHO_SEARCH_COLLECTION", "ECHO_SEARCH_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ECHO_SEARCH_DATA", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    # `ingest notes/` with the settings the examples rely on.
    store = open_collection(**StoreSettings().collection_options())
    try:
        ingest_paths(IngestOptions(paths=[write_fixture_folder(tmp_path / "notes")]), store, real_embedder)
    finally:
        store.close()
    assert store.location == str(tmp_path / "data" / "qdrant")

    namespace: dict[str, object] = {"__name__": "__docs__"}
    try:
        for block in code_blocks("python"):
            exec(compile(block, str(DOC), "exec"), namespace)
    finally:
        if "retriever" in namespace:
            namespace["retriever"].get_searcher().store.close()  # type: ignore[attr-defined]
        if "store" in namespace:
            namespace["store"].client.close()  # type: ignore[attr-defined]
    out = capsys.readouterr().out
    assert "2 640\n" in out
    assert re.search(r"^1\. -?\d\.\d{3} \S+/notes/baking/sourdough\.md #0: 'Sourdough", out, flags=re.M)
    assert re.search(r"^\S+/notes/space/mars\.md Mars", out, flags=re.M)  # the filtered async call
    assert "Question: How often should I feed a sourdough starter?" in out
    assert re.search(r"^0\.\d{3} space: Olympus Mons", out, flags=re.M)
    assert out.rstrip().endswith("ops\n640")
