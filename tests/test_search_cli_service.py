"""`search "question"` and `search info` while a `search serve` holds the embedded store: the service it announces
answers over HTTP, with the output and exit codes of a search on the store itself."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from search.cli.app import app
from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.store import open_collection
from tests.search_helpers import DOCS, fill, free_port, running

QUESTION = "how do I descale a kettle?"


@pytest.fixture
def data(tmp_path: Path, tiny_model_dir: Path, tiny_embedder, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data folder with the DOCS collection, and the environment of a user of it (no service named)."""
    for name in ("QDRANT_URL", "QDRANT_API_KEY", "ECHO_SEARCH_COLLECTION", "SEARCH_URL", "SEARCH_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ECHO_SEARCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("ECHO_SEARCH_MODEL", str(tiny_model_dir))
    monkeypatch.setenv("ECHO_SEARCH_DTYPE", "float32")
    store = open_collection(path=tmp_path / "data" / "qdrant")
    try:
        fill(store, tiny_embedder)
    finally:
        store.close()
    return tmp_path / "data"


@contextmanager
def serving(data: Path, embedder, api_key: str | None = None) -> Iterator[str]:
    """A service holding the embedded store of `data` and announcing itself there, as `search serve` does."""
    store = open_collection(path=data / "qdrant")
    port = free_port()
    app_ = create_app(Searcher(store=store, embedder=embedder), ServiceSettings(api_key=api_key),
                      announce_url=f"http://127.0.0.1:{port}")
    try:
        with running(app_, port) as url:
            yield url
    finally:
        store.close()


def search(*args: str, env: dict[str, str] | None = None):
    return CliRunner(env=env).invoke(app, list(args), prog_name="search", terminal_width=160)


def test_a_question_and_info_are_answered_by_the_service_as_the_store_would(data: Path, tiny_embedder) -> None:
    with serving(data, tiny_embedder) as url:
        note = f"answered by the search service at {url}"
        answered = search(QUESTION, "-k", "3", "--json")
        table = search(QUESTION, "-k", "2")
        bm25 = search("white vinegar kettle", "--mode", "bm25", "-k", "2", "--json")
        info = search("info", "--json")
        info_table = search("info")
    for result in (answered, table, bm25, info, info_table):
        assert result.exit_code == 0, result.output
        assert note in result.stderr and note not in result.stdout
    alone = search(QUESTION, "-k", "3", "--json")  # the service is gone: the store itself answers
    assert alone.exit_code == 0 and "answered by" not in alone.stderr, alone.output
    remote, local = json.loads(answered.stdout), json.loads(alone.stdout)
    for kind in ("echo", "classical"):
        assert [h["id"] for h in remote[kind]] == [h["id"] for h in local[kind]]
        assert [h["score"] for h in remote[kind]] == pytest.approx([h["score"] for h in local[kind]], abs=1e-5)
    assert (remote["query"], remote["mode"]) == (local["query"], local["mode"])
    header = next(line for line in table.stdout.splitlines() if "echo" in line)
    assert "classical" in header and "snippet" in header
    assert json.loads(bm25.stdout)["bm25"][0]["source"] == "/docs/kitchen.md"
    described, itself = json.loads(info.stdout), json.loads(search("info", "--json").stdout)
    assert described.keys() == itself.keys()
    for key in ("name", "location", "points", "fingerprint", "embedder", "files", "sources"):
        assert described[key] == itself[key], key
    assert described["points"] == sum(len(c) for c in DOCS.values()) and described["sources"] == sorted(DOCS)
    assert "docs" in info_table.stdout


def test_what_the_service_cannot_do_is_refused_with_the_store_exit_codes(data: Path, tiny_embedder) -> None:
    with serving(data, tiny_embedder) as url:
        check = search("info", "--check")
        other = search(QUESTION, "--collection", "papers")
        usage = search(QUESTION, "--instruction", "x {text}")
    assert check.exit_code == 3 and "stop the service" in check.stderr and "answered by" not in check.stderr
    assert url in check.stderr
    assert other.exit_code == 3 and "serves collection 'docs', not 'papers'" in " ".join(other.stderr.split())
    assert usage.exit_code == 2 and "template slot" in " ".join(usage.output.split())  # refused before asking


def test_a_service_that_needs_a_key_gets_search_api_key(data: Path, tiny_embedder) -> None:
    with serving(data, tiny_embedder, api_key="k") as url:
        keyless = search(QUESTION, "--json")
        keyed = search(QUESTION, "--json", env={"SEARCH_API_KEY": "k"})
        info = search("info", "--json", env={"SEARCH_API_KEY": "k"})
    assert keyless.exit_code == 3 and "SEARCH_API_KEY" in keyless.stderr and url in keyless.stderr
    assert keyed.exit_code == 0 and json.loads(keyed.stdout)["echo"], keyed.output
    assert info.exit_code == 0 and json.loads(info.stdout)["files"] == len(DOCS)


def test_a_stale_announcement_leaves_the_store_error_as_it_was(data: Path) -> None:
    (data / "qdrant" / "service.json").write_text(json.dumps(
        {"url": "http://127.0.0.1:9", "pid": 2**22 + 7, "needs_key": False, "collection": "docs"}))
    holder = open_collection(path=data / "qdrant")  # held by a process that announces nothing (the UI, say)
    try:
        result = search("info")
    finally:
        holder.close()
    assert result.exit_code == 3 and "in use by another process" in result.stderr
    assert "answered by" not in result.stderr
