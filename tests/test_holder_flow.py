"""While `search-ui` runs (it holds the embedded store through the search service it starts), every other entry point
on the same data folder works, answered by that holder: `ingest`, `search`, `search info`, `search eval retrieval`,
the LangChain retriever and `Searcher.open()`; and the service stops with the page."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.search_helpers import free_port, serving_streamlit

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "search" / "evaluation" / "data" / "example"
ANNOUNCED = "answered by the search service"


@pytest.fixture(name="env")
def env_fixture(tmp_path: Path, tiny_model_dir: Path) -> dict[str, str]:
    env = {**os.environ, "ECHO_SEARCH_DATA": str(tmp_path / "data"), "ECHO_SEARCH_MODEL": str(tiny_model_dir),
           "ECHO_SEARCH_DTYPE": "float32", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for name in ("SEARCH_URL", "QDRANT_URL", "ECHO_SEARCH_COLLECTION", "SEARCH_API_KEY"):
        env.pop(name, None)
    return env


@pytest.fixture(name="ui")
def ui_fixture(env: dict[str, str], tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`search-ui --headless` in its own process, healthy, with its service announced in the store folder."""
    port = free_port()
    command = [sys.executable, "-c", "from ui.launch import main; main()", "--headless", "--address", "127.0.0.1",
               "--port", str(port)]
    with serving_streamlit(command, env, tmp_path / "ui.log", f"http://127.0.0.1:{port}") as proc:
        yield proc


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def cli(env: dict[str, str], command: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(env, "-m", command, *args)


@pytest.mark.slow
def test_every_entry_point_works_beside_a_running_ui(ui: subprocess.Popen[bytes], env: dict[str, str],
                                                     tmp_path: Path) -> None:
    announcement = Path(env["ECHO_SEARCH_DATA"]) / "qdrant" / "service.json"
    assert announcement.exists(), "the UI's service announces itself in the store folder"

    ingested = cli(env, "ingest", str(EXAMPLE / "corpus"), "--json")
    assert ingested.returncode == 0, ingested.stderr
    assert json.loads(ingested.stdout)["counts"]["added"] == len(list((EXAMPLE / "corpus").iterdir()))

    asked = cli(env, "search", "how are the logs rotated", "-k", "3", "--mode", "hybrid", "--json")
    assert asked.returncode == 0, asked.stderr
    assert ANNOUNCED in asked.stderr
    hits = json.loads(asked.stdout)["hybrid"]
    assert len(hits) == 3 and all(h["source"].startswith(str(EXAMPLE / "corpus")) for h in hits)

    info = cli(env, "search", "info", "--json")
    assert info.returncode == 0, info.stderr
    assert json.loads(info.stdout)["files"] == len(list((EXAMPLE / "corpus").iterdir()))

    evaluated = cli(env, "search", "eval", "retrieval", "--queries", str(EXAMPLE / "queries.jsonl"),
                    "--qrels", str(EXAMPLE / "qrels.tsv"), "--json")
    assert evaluated.returncode == 0, evaluated.stderr
    rows = {row["method"] for row in json.loads(evaluated.stdout)["rows"]}
    assert {"echo (collection)", "hybrid (collection)"} <= rows

    retriever = run(env, "-c", "from search.langchain import EchoRetriever\n"
                    "docs = EchoRetriever(k=2, mode='hybrid').invoke('how are the logs rotated')\n"
                    "print(len(docs), docs[0].metadata['source'])")
    assert retriever.returncode == 0, retriever.stderr
    assert retriever.stdout.split()[0] == "2"

    opened = run(env, "-c", "from search import Searcher\n"
                 "s = Searcher.open()\n"
                 "hits = s.search('how are the logs rotated', k=2, mode='hybrid').hybrid\n"
                 "print(type(s).__name__, len(hits), hits[0].source)")
    assert opened.returncode == 0, opened.stderr
    kind, count, source = opened.stdout.split(maxsplit=2)
    assert (kind, count) == ("HttpSearcher", "2") and source.strip() == hits[0]["source"]

    ui.send_signal(signal.SIGTERM)  # the page stops: its service stops with it and withdraws its announcement
    ui.wait(timeout=20)
    deadline = time.monotonic() + 30
    while announcement.exists() and time.monotonic() < deadline:
        time.sleep(0.3)
    assert not announcement.exists()
    after = cli(env, "search", "info", "--json")  # the store is free again: opened in process
    assert after.returncode == 0 and ANNOUNCED not in after.stderr, after.stderr


@pytest.mark.slow
def test_ingest_watch_holds_the_store_through_a_service_everyone_reaches(env: dict[str, str], tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "kettle.md").write_text("# Kettle\n\nDescale the kettle with vinegar, then rinse it three times.\n")
    announcement = Path(env["ECHO_SEARCH_DATA"]) / "qdrant" / "service.json"
    log = (tmp_path / "watch.log").open("wb")
    watcher = subprocess.Popen([sys.executable, "-m", "ingest", str(docs), "--watch"], cwd=ROOT, env=env,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not announcement.exists():
            assert watcher.poll() is None and time.monotonic() < deadline, (tmp_path / "watch.log").read_text()
            time.sleep(0.3)

        def files() -> int:
            info = cli(env, "search", "info", "--json")
            assert info.returncode == 0 and ANNOUNCED in info.stderr, info.stderr
            return int(json.loads(info.stdout)["files"])

        while files() < 1:  # the first sync
            assert time.monotonic() < deadline, (tmp_path / "watch.log").read_text()
            time.sleep(0.5)
        (docs / "bread.md").write_text("# Bread\n\nLet the dough rise in a warm place for an hour.\n")
        while files() < 2:  # the change, synced by the watch through the service
            assert time.monotonic() < deadline, (tmp_path / "watch.log").read_text()
            time.sleep(0.5)
        asked = cli(env, "search", "how long should dough rise", "-k", "1", "--mode", "bm25", "--json")
        assert asked.returncode == 0 and json.loads(asked.stdout)["bm25"][0]["source"].endswith("bread.md")
    finally:
        watcher.send_signal(signal.SIGINT)
        status = watcher.wait(timeout=60)
        log.close()
    assert status == 130, (tmp_path / "watch.log").read_text()
    assert not announcement.exists()  # its service stopped with it
