"""The Streamlit UI: pure comparison functions, and the app rendered by `streamlit.testing.v1.AppTest`."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path

import pytest

from search.query import snippets
from search.query.results import Hit
from search.store import ChunkRecord, open_collection
from search.validation import K_MAX, K_MIN
from tests.ui_fixtures import (  # noqa: F401 - fixtures
    CHUNKS,
    CLASSICAL_MARKERS,
    ECHO_MARKERS,
    QUERY,
    K,
    ask,
    built_fixture,
    built_tied_fixture,
    column_titled,
    markers_by_source,
    run_app,
    ui_env_fixture,
)
from ui import compare


@dataclass
class FakeHit:
    """Just the fields the pure functions read (the real `Hit` is exercised through the app below)."""

    rank: int
    id: str


def ranked(ids: str) -> list[FakeHit]:
    return [FakeHit(rank, cid) for rank, cid in enumerate(ids, start=1)]


# ---- pure functions -------------------------------------------------------------------------------------------

def test_movements_constructed_case() -> None:
    echo, classical = ranked("ABCD"), ranked("CAEB")
    assert [m.marker("classical") for m in compare.movements(echo, classical)] == [
        "▲ 1 · classical #2", "▲ 2 · classical #4", "▼ 2 · classical #1", "● only here"]
    assert [m.delta for m in compare.movements(classical, echo)] == [2, -1, None, -2]
    assert compare.movements(ranked("AB"), ranked("AB"))[1].marker("echo") == "= · echo #2"


def test_overlap_and_rank_correlation() -> None:
    assert compare.overlap(ranked("ABCD"), ranked("CAEB")) == 3
    # shared A, B, C: ranks (1,2), (2,3), (3,1) -> d^2 = 6, rho = 1 - 36 / 24
    assert compare.rank_correlation(ranked("ABCD"), ranked("CAEB")) == pytest.approx(-0.5)
    assert compare.rank_correlation(ranked("ABC"), ranked("ABC")) == pytest.approx(1.0)
    assert compare.rank_correlation(ranked("ABC"), ranked("CBA")) == pytest.approx(-1.0)
    assert compare.rank_correlation(ranked("AB"), ranked("AC")) is None
    # shared A, B, C at ranks 2, 4, 6 and 3, 2, 1: the ranks among the shared chunks count, not the raw ones
    assert compare.rank_correlation(ranked("XAYBZC"), ranked("CBA")) == pytest.approx(-1.0)


def test_highlight_marks_query_words_and_escapes_html() -> None:
    out = compare.highlight("Herons <b>nest</b> in the heronry.", "Where do herons nest?")
    assert out == "<mark>Herons</mark> &lt;b&gt;<mark>nest</mark>&lt;/b&gt; in the heronry."
    assert compare.highlight("The nest", "the") == "The nest"  # stopwords are not highlighted
    assert snippets.query_terms("What is the Heron's nest?") == ["heron", "nest"]


def test_snippet_centres_on_first_query_word() -> None:
    text = " ".join(["filler"] * 100) + " the heron nests here " + " ".join(["tail"] * 100)
    snip = snippets.snippet(text, "heron", width=80)
    assert "heron" in snip and snip.startswith("…") and snip.endswith("…")
    assert len(snip) <= 82
    assert snippets.snippet("short\n text", "x") == "short text"
    assert snippets.snippet("alpha beta gamma delta " * 30, width=20) == "alpha beta gamma…"  # no query: the start


def test_source_label() -> None:
    assert compare.source_label("/d/guide.pdf", title="Intro", page=3) == "guide.pdf · p. 3"
    assert compare.source_label("/d/notes.md", title="Install") == "notes.md · Install"
    assert compare.source_label("/d/notes.md") == "notes.md"
    hit = Hit(rank=1, score=0.5, text="t", source="/d/guide.pdf", chunk_index=0, id="x",
              payload=ChunkRecord("/d/guide.pdf", 0, "t", title="Intro", page=3).as_dict())
    assert compare.hit_label(hit) == "guide.pdf · p. 3"  # a hit's label comes from its record


# ---- the app ----------------------------------------------------------------------------------------------------

def test_results_render_in_both_columns_with_movement_markers(built: Path) -> None:
    at = run_app()
    assert not at.error
    assert (at.number_input[0].min, at.number_input[0].max) == (K_MIN, K_MAX)  # the range every entry point checks
    ask(at)
    echo = markers_by_source(column_titled(at, "Echo"))
    classical = markers_by_source(column_titled(at, "Classical"))
    assert list(echo) == ["alpha.md", "bravo.md", "charlie.md", "delta.md"]
    assert list(classical) == ["charlie.md", "alpha.md", "echo.md", "bravo.md"]
    for shown, expected in ((echo, ECHO_MARKERS), (classical, CLASSICAL_MARKERS)):
        for source, marker in expected.items():
            assert marker in shown[source], (source, shown[source])
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Overlap of the top k"] == "3/4"
    assert metrics["Rank correlation (shared)"] == "-0.50"
    assert all(metrics[name].endswith(" ms") for name in ("Embed query", "Search", "Total"))
    # query words are highlighted in the snippets
    assert any("<mark>heron</mark>" in m.value for m in column_titled(at, "Echo").markdown)


def test_filter_by_source_keeps_only_that_file(built: Path, tmp_path: Path) -> None:
    at = run_app()
    at.text_input[0].input(QUERY)
    at.multiselect[0].select(str(tmp_path / "docs" / "charlie.md")).select(str(tmp_path / "docs" / "echo.md"))
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert list(markers_by_source(column_titled(at, "Echo"))) == ["charlie.md", "echo.md"]
    assert list(markers_by_source(column_titled(at, "Classical"))) == ["charlie.md", "echo.md"]


def test_sidebar_shows_collection(built: Path) -> None:
    at = run_app()
    text = " ".join(m.value for m in at.sidebar.markdown) + " ".join(c.value for c in at.sidebar.caption)
    assert "5 files · 5 chunks" in text
    assert str(built / "qdrant") in text


def test_empty_collection_shows_how_to_ingest(ui_env: Path) -> None:
    at = run_app()
    assert not at.error
    assert len(at.info) == 1 and "ingest PATH" in at.info[0].value
    assert not at.text_input  # nothing to search yet


def test_fingerprint_mismatch_is_an_error_message(ui_env: Path, tiny_embedder) -> None:
    store = open_collection(path=ui_env / "qdrant", collection="ui-test")
    store.ensure("some-other-model/echo-mean/dim64/abc", {"model": "other"}, tiny_embedder.dim)
    store.close()
    at = run_app()
    assert len(at.error) == 1
    assert "was built by embedder 'some-other-model" in at.error[0].value and "--collection" in at.error[0].value


def test_locked_store_is_an_error_message_then_recovers(built: Path) -> None:
    holder = open_collection(path=built / "qdrant", collection="ui-test")  # another client holds the embedded store
    try:
        at = run_app()
        assert len(at.error) == 1 and "in use by another process" in at.error[0].value
    finally:
        holder.close()
    at.run()  # the failure was not cached: once the store is free, the app works
    assert not at.error and at.text_input


def test_unreachable_qdrant_server_is_an_error_message(ui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("QDRANT_URL", f"http://127.0.0.1:{port}")
    at = run_app()
    assert len(at.error) == 1
    assert "cannot reach the Qdrant server" in at.error[0].value


def test_search_mode_asks_only_for_what_the_columns_show() -> None:
    assert compare.search_mode("echo", "classical") == compare.search_mode("classical", "echo") == "both"
    assert compare.search_mode("bm25", "bm25") == "bm25" and compare.search_mode("hybrid", "hybrid") == "hybrid"
    assert compare.search_mode("echo", "hybrid") == compare.search_mode("bm25", "classical") == "all"


def test_a_column_can_show_hybrid_or_bm25(built: Path) -> None:
    at = run_app()
    left, right = at.selectbox
    assert (left.label, left.value, right.label, right.value) == ("Left column", "echo", "Right column", "classical")
    assert "echo" not in right.options and "Echo" not in right.options  # a list is never beside itself
    assert "Rerank" not in right.options and "rerank" not in right.options  # this tiny model cannot rerank
    right.set_value("hybrid")
    ask(at)
    echo = markers_by_source(column_titled(at, "Echo"))
    hybrid = markers_by_source(column_titled(at, "Hybrid"))
    assert list(echo) == ["alpha.md", "bravo.md", "charlie.md", "delta.md"]
    assert len(hybrid) == K and set(hybrid) <= {c.name for c in CHUNKS}
    assert all("hybrid #" in marker or "only here" in marker for marker in echo.values())
    at.selectbox[0].set_value("bm25")
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    bm25 = markers_by_source(column_titled(at, "BM25"))
    assert list(bm25)[0] in {"alpha.md", "bravo.md", "delta.md"}  # the chunks that say "heron(s)" or "nest"
    assert "echo.md" not in bm25  # no word of the question: BM25 does not list it


def test_the_right_column_reranks_by_default_when_the_model_can(built_tied: Path) -> None:
    at = run_app()
    left, right = at.selectbox
    assert (left.value, right.value) == ("echo", "rerank")
    ask(at)
    echo = markers_by_source(column_titled(at, "Echo"))
    rerank = markers_by_source(column_titled(at, "Rerank"))
    assert list(echo) == ["alpha.md", "bravo.md", "charlie.md", "delta.md"]
    assert len(rerank) == K and set(rerank) <= {c.name for c in CHUNKS}
    assert all("rerank #" in marker or "only here" in marker for marker in echo.values())
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Rerank"].endswith(" ms")  # its time is shown (the tiny model's pass rounds to 0 ms)
    assert not any("stands in" in i.value for i in at.info)  # the rerank replaced the hybrid standing in
    assert not [c for c in at.columns if any(s.value == "Hybrid" for s in c.subheader)]
