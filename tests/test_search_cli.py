"""The `search` command with the tiny model over a real local Qdrant collection."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from search.cli.app import app
from search.store import open_collection
from search.validation import InvalidRequestError
from tests.search_helpers import DOCS, fill_path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    from embedder import Embedder

    folder = tmp_path_factory.mktemp("search-cli-data")
    fill_path(folder / "qdrant", Embedder.from_pretrained(tiny_model_dir))
    return folder


@pytest.fixture
def run(data_dir: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "ECHO_SEARCH_COLLECTION", "SEARCH_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ECHO_SEARCH_DATA", str(data_dir))
    monkeypatch.setenv("ECHO_SEARCH_MODEL", str(tiny_model_dir))
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args), prog_name="search", terminal_width=160)

    return invoke


def test_question_is_the_default_command_and_json_lists_both_kinds(run) -> None:
    result = run("how do I descale a kettle?", "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["query"] == "how do I descale a kettle?"
    for kind in ("echo", "classical"):
        assert [h["rank"] for h in data[kind]] == [1, 2, 3]
        scores = [h["score"] for h in data[kind]]
        assert scores == sorted(scores, reverse=True)
        assert {h["source"] for h in data[kind]} <= set(DOCS)
    assert set(data["timings"]) == {"embed_ms", "search_ms"}


def test_options_before_the_question_and_explicit_query_command_agree(run) -> None:
    first = json.loads(run("-k", "2", "--json", "compost", "for", "winter").stdout)
    second = json.loads(run("query", "compost for winter", "-k", "2", "--json").stdout)
    assert first["query"] == second["query"] == "compost for winter"
    assert [h["id"] for h in first["echo"]] == [h["id"] for h in second["echo"]]


def test_mode_and_source_filter(run) -> None:
    data = json.loads(run("bike tyres", "--mode", "echo", "-s", "/docs/cycling.md", "-k", "5", "--json").stdout)
    assert data["classical"] == []
    assert len(data["echo"]) == 2
    assert {h["source"] for h in data["echo"]} == {"/docs/cycling.md"}


def test_table_shows_both_kinds_side_by_side(run) -> None:
    result = run("kettle vinegar", "-k", "2")
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if "echo" in line)
    assert "classical" in header and "snippet" in header
    assert "#0" in result.output or "#1" in result.output  # file#chunk of each hit


def test_info_needs_no_model(run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_SEARCH_MODEL", "/nonexistent/model")
    data = json.loads(run("info", "--json").stdout)
    assert data["points"] == sum(len(c) for c in DOCS.values())
    assert data["files"] == len(DOCS)
    assert data["sources"] == sorted(DOCS)
    assert run("collection").exit_code == 0


@pytest.mark.parametrize("args", [("q", "-k", "0"), ("q", "-k", "101"), ("q", "--mode", "sideways"), ("  ",)])
def test_usage_errors_exit_2(run, args: tuple[str, ...]) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output


def test_missing_collection_exits_3_with_the_store_message(run) -> None:
    result = run("anything", "--collection", "nothing-here")
    assert result.exit_code == 3
    assert "does not exist" in result.output and "ingest" in result.output
    assert "Traceback" not in result.output


def test_locked_store_exits_3_with_the_store_message(run, tmp_path: Path) -> None:
    holder = open_collection(path=tmp_path / "qdrant")
    try:
        result = run("info", "--data-dir", str(tmp_path))
    finally:
        holder.close()
    assert result.exit_code == 3
    assert "in use by another process" in result.output
    assert "Traceback" not in result.output


def test_help_names_the_subcommands(run) -> None:
    result = run("--help")
    assert result.exit_code == 0
    for word in ("query", "serve", "info", "eval", 'search "how do I', "Exit status", "130 interrupted"):
        assert word in result.output


class Opened:
    """A stand-in for an opened `SearchBackend`: a context manager that gives itself."""

    def __enter__(self) -> Opened:
        return self

    def __exit__(self, *_: object) -> None:
        pass


def test_unexpected_errors_exit_4_and_interrupts_130_without_a_traceback(
    run, monkeypatch: pytest.MonkeyPatch
) -> None:
    import search.query.backend

    class Failing(Opened):
        def __init__(self, error: BaseException) -> None:
            self.error = error

        def search(self, *_: object, **__: object) -> None:
            raise self.error

    cases = (
        (RuntimeError("boom"), 4, "RuntimeError: boom"),
        (ValueError("operands could not be broadcast"), 4, "ValueError: operands"),  # a library's, not a usage error
        (InvalidRequestError("k must be between 1 and 100, got 0"), 2, "k must be between"),  # the product's own
        (KeyboardInterrupt(), 130, ""),
    )
    for error, status, message in cases:
        monkeypatch.setattr(search.query.backend, "open_backend", lambda *_, error=error, **__: Failing(error))
        result = run("kettle")
        assert result.exit_code == status, result.output
        assert message in result.output and "Traceback" not in result.output


def test_a_control_character_in_a_file_name_stays_inside_its_table_row(run, monkeypatch) -> None:
    import search.query.backend
    from search.query.searcher import Hit, SearchResult

    class Fixed(Opened):
        def search(self, *_: object, **__: object) -> SearchResult:
            hit = Hit(rank=1, score=0.5, text="text [red]not markup[/red]", source="/docs/evil\nname\x1b[31m.md",
                      chunk_index=0, id="x")
            return SearchResult([hit], [hit], {})

    monkeypatch.setattr(search.query.backend, "open_backend", lambda *_, **__: Fixed())
    result = run("kettle", "-k", "1")
    assert result.exit_code == 0, result.output
    rows = [line for line in result.output.splitlines() if "evil" in line]
    assert len(rows) == 1 and "\\n" in rows[0] and "\x1b" not in result.output
    assert "text [red]" in rows[0]  # shown as typed, not taken as markup


def test_mode_bm25_loads_no_model_and_hybrid_fuses(run, monkeypatch: pytest.MonkeyPatch) -> None:
    from embedder import Embedder

    hybrid = json.loads(run("vinegar kettle", "--mode", "hybrid", "-k", "3", "--json").stdout)
    assert hybrid["mode"] == "hybrid" and hybrid["echo"] == hybrid["classical"] == hybrid["bm25"] == []
    assert len(hybrid["hybrid"]) == 3 and hybrid["hybrid"][0]["source"] == "/docs/kitchen.md"

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("mode bm25 loaded the model")

    monkeypatch.setattr(Embedder, "from_pretrained", no_model)
    monkeypatch.setattr(Embedder, "encode", no_model)
    result = run("white vinegar kettle", "--mode", "bm25", "-k", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [h["source"] for h in data["bm25"]][:1] == ["/docs/kitchen.md"]
    assert "descale the kettle" in data["bm25"][0]["text"] and data["echo"] == []
    table = run("white vinegar kettle", "--mode", "bm25", "-k", "2")
    assert table.exit_code == 0 and "bm25" in table.output and "kitchen.md" in table.output


def test_a_question_that_is_not_utf8_and_a_data_dir_that_is_a_file_are_usage_errors(run, tmp_path: Path) -> None:
    bad = run("\udcff")  # what Python makes of the byte 0xff in an argument
    assert bad.exit_code == 2 and "not valid Unicode" in bad.output, bad.output
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    for command in (["info"], ["a question"]):
        result = run(*command, "--data-dir", str(a_file))
        assert result.exit_code == 2 and "not a folder" in " ".join(result.output.split()), result.output


def test_the_query_is_checked_before_the_store_or_the_model_opens(run, monkeypatch: pytest.MonkeyPatch) -> None:
    import search.query.backend

    monkeypatch.setattr(search.query.backend, "open_backend", lambda *_, **__: pytest.fail("the backend was opened"))
    cases = ((["\udcff"], "not valid Unicode"), (["kettle", "--instruction", "x {text}"], "template slot"))
    for args, message in cases:
        result = run(*args)
        assert result.exit_code == 2 and message in " ".join(result.output.split()), result.output
