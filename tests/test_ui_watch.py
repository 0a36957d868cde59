"""`search-ui --watch`: the UI, which holds the embedded store, keeps folders in sync itself (the machinery of
`search serve --watch`), and never shows an answer from before a write; with a search service it is refused."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import typer
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from tests.ui_fixtures import column_titled, run_app, ui_env_fixture  # noqa: F401 - fixture
from ui import launch

WORD = "zephyrquokka"


def _until(at: AppTest, ok: Callable[[AppTest], bool], timeout: float = 60.0) -> None:
    """Rerun the page (as a user reloading it would) until `ok(at)`."""
    deadline = time.monotonic() + timeout
    while not ok(at):
        assert time.monotonic() < deadline, "the page did not show the synced collection in time"
        time.sleep(0.3)
        at.run()
        assert not at.exception, at.exception


def _sidebar(at: AppTest) -> str:
    return " ".join(m.value for m in at.sidebar.markdown) + " " + " ".join(c.value for c in at.sidebar.caption)


def _bm25_text(at: AppTest) -> str:
    return " ".join(m.value for m in column_titled(at, "BM25").markdown)


def test_the_ui_keeps_a_folder_in_sync_and_never_shows_an_answer_from_before_a_write(
    ui_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "watched"
    docs.mkdir()
    (docs / "tram.md").write_text("# Tram\n\nThe tram leaves the depot at eight.\n")
    (docs / "ferry.md").write_text("# Ferry\n\nThe ferry crosses the lake at nine.\n")
    monkeypatch.setenv("ECHO_SEARCH_UI_WATCH", json.dumps([str(docs)]))
    at = run_app()
    assert f"`{docs}`" in _sidebar(at)  # the sidebar says what it keeps in sync
    _until(at, lambda at: "2 files · 2 chunks" in _sidebar(at))
    assert not at.error, at.error

    at.text_input[0].input("when does the tram leave the depot")
    at.selectbox[0].set_value("bm25")
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert "tram.md" in " ".join(c.value for c in column_titled(at, "BM25").caption) and WORD not in _bm25_text(at)

    # the same number of chunks, other words: an answer kept for the old contents must not be shown again
    (docs / "tram.md").write_text(f"# Tram\n\nThe {WORD} tram leaves the depot at eight.\n")
    _until(at, lambda at: WORD in _bm25_text(at))
    assert "2 files · 2 chunks" in _sidebar(at)
    (docs / "late.md").write_text("# Late\n\nThe night tram leaves the depot at midnight.\n")
    _until(at, lambda at: "3 files · 3 chunks" in _sidebar(at))


def test_watch_beside_a_search_service_is_refused(ui_env: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_SEARCH_UI_WATCH", json.dumps([str(tmp_path)]))
    monkeypatch.setenv("SEARCH_URL", "http://127.0.0.1:9")  # refused before it is asked anything
    at = run_app()
    assert len(at.error) == 1 and "search serve --watch" in at.error[0].value and "SEARCH_URL" in at.error[0].value


def test_the_launcher_passes_watched_paths_and_refuses_them_with_a_service(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes").mkdir()
    env = launch.app_environment(watch=[Path("notes"), tmp_path])
    assert json.loads(env["ECHO_SEARCH_UI_WATCH"]) == [str(tmp_path / "notes"), str(tmp_path)]
    monkeypatch.delenv("SEARCH_URL", raising=False)
    command = typer.Typer()
    command.command()(launch.run)
    refused = CliRunner().invoke(command, ["--watch", "notes", "--search-url", "http://svc:8000"])
    assert refused.exit_code == 2 and "search serve --watch" in _words(refused.output)
    missing = CliRunner().invoke(command, ["--watch", "nowhere"])
    assert missing.exit_code == 2 and "nowhere" in _words(missing.output)


def _words(output: str) -> str:
    """`output` as one line of words, without the frame typer draws around an error."""
    return " ".join(output.replace("│", " ").split())
