"""`ingest` handed over to the `search serve` that holds the embedded store: searches keep being answered, no
stale answer after the ingest reports done; Ctrl-C and the window warning as in a local run; `search serve --watch`;
discovery and refusals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from ingest.cli import app as ingest_app
from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.store import open_collection
from search.store.edge.holder import announce, find_service
from tests.search_helpers import free_port, running, wait_for_port

WORD = "zephyrquokka"  # only in the last file of the big ingest
QUERY = {"query": f"where is the {WORD}?", "k": 3, "mode": "all"}


def _docs(folder: Path, n: int, first: int = 0) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + n):
        (folder / f"note{i:02d}.md").write_text(f"# Note {i}\n\nThe tram {i} leaves the depot at {i} past eight.\n")


def _bm25_sources(answer: dict) -> set[str]:
    return {hit["source"] for hit in answer["bm25"]}


def _ingest(data: Path, model: Path, *args: str):
    return CliRunner().invoke(ingest_app, [*args, "--data-dir", str(data), "--model", str(model), "--json"])


def _announced_app(store, embedder, settings: ServiceSettings | None = None) -> tuple[FastAPI, int]:
    """A service on `store` that announces itself on a free port of loopback, as `search serve` does."""
    port = free_port()
    return create_app(Searcher(store=store, embedder=embedder), settings or ServiceSettings(),
                      announce_url=f"http://127.0.0.1:{port}"), port


def test_an_ingest_goes_through_the_service_while_it_answers_queries(tmp_path: Path, tiny_model_dir, tiny_embedder):
    data, docs = tmp_path / "data", tmp_path / "docs"
    _docs(docs, 1)
    folder = data / "qdrant"
    store = open_collection(path=folder)
    app, port = _announced_app(store, tiny_embedder, ServiceSettings(batch_wait_ms=1))
    with running(app, port) as url:
        assert find_service(folder) is not None
        first = _ingest(data, tiny_model_dir, str(docs))  # the store is locked by the service: handed over
        assert first.exit_code == 0, first.output
        assert "handing the ingest over" in first.stderr
        before = httpx.post(f"{url}/search", json=QUERY).json()
        assert f"{docs}/note39.md" not in _bm25_sources(before)

        answers: list[tuple[float, int, dict]] = []
        done = threading.Event()

        def ask() -> None:  # a steady rate of the same query, so the cache holds answers from before each write
            with httpx.Client(timeout=30) as client:
                while not done.is_set():
                    response = client.post(f"{url}/search", json=QUERY)
                    answers.append((time.monotonic(), response.status_code, response.json()))
                    time.sleep(0.02)

        asker = threading.Thread(target=ask)
        asker.start()
        try:
            _docs(docs, 39, first=1)
            (docs / "note39.md").write_text(f"# Note 39\n\nThe {WORD} sleeps under the last tram.\n")
            started = time.monotonic()
            result = _ingest(data, tiny_model_dir, str(docs))
            finished = time.monotonic()
            after = [httpx.post(f"{url}/search", json=QUERY).json() for _ in range(3)]
        finally:
            done.set()
            asker.join()
    assert not (folder / "service.json").exists()  # withdrawn when the service stops

    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["counts"]["added"] == 39 and report["counts"]["unchanged"] == 1, report["counts"]
    assert "ingest: files" in result.stderr  # the same progress lines as a local run
    assert all(status == 200 for _, status, _ in answers), {status for _, status, _ in answers}
    assert sum(started < at < finished for at, _, _ in answers) >= 5  # answered while the ingest ran
    for answer in after:  # never a cached answer from before the last write
        assert f"{docs}/note39.md" in _bm25_sources(answer)
    assert len(store.sources()) == 40
    store.close()


def test_a_named_service_reports_refusals_with_the_ingest_exit_codes(tmp_path: Path, tiny_model_dir,
                                                                     tiny_embedder) -> None:
    store = open_collection(path=tmp_path / "data" / "qdrant")
    with running(create_app(Searcher(store=store, embedder=tiny_embedder), ServiceSettings(api_key="k"))) as url:
        missing = _ingest(tmp_path, tiny_model_dir, "--service", url, str(tmp_path / "nope"))
        assert missing.exit_code == 3 and "SEARCH_API_KEY" in missing.stderr  # no key sent
        keyed = CliRunner(env={"SEARCH_API_KEY": "k"}).invoke(
            ingest_app, ["--service", url, str(tmp_path / "nope"), "--model", str(tiny_model_dir)])
        assert keyed.exit_code == 2 and "no such file or folder" in keyed.stderr
        rebuild = _ingest(tmp_path, tiny_model_dir, "--service", url, "--rebuild", str(tmp_path))
        assert rebuild.exit_code == 2 and "stop the service" in rebuild.stderr
    unreachable = _ingest(tmp_path, tiny_model_dir, "--service", url, str(tmp_path))
    assert unreachable.exit_code == 3 and "cannot reach" in unreachable.stderr
    store.close()


def test_a_stale_announcement_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "service.json").write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 2**22 + 7,
                                                       "needs_key": False, "collection": "docs"}))
    assert find_service(tmp_path) is None
    announce(tmp_path, "http://127.0.0.1:9", needs_key=False, collection="docs")  # a live pid, but nothing answers
    assert find_service(tmp_path) is None


def test_serve_watch_keeps_a_folder_in_sync(tmp_path: Path, tiny_embedder) -> None:
    docs = tmp_path / "docs"
    _docs(docs, 2)
    store = open_collection(path=tmp_path / "qdrant")
    with running(create_app(Searcher(store=store, embedder=tiny_embedder), ServiceSettings(), [str(docs)])) as url:
        _wait(lambda: httpx.get(f"{url}/collection").json().get("files") == 2)
        (docs / "late.md").write_text(f"# Late\n\nThe {WORD} arrived late.\n")
        _wait(lambda: f"{docs}/late.md" in _bm25_sources(httpx.post(f"{url}/search", json=QUERY).json()))
    store.close()


def _wait(ok, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ok():
            return
        time.sleep(0.2)
    raise AssertionError("not in sync in time")


@pytest.mark.slow
def test_search_serve_announces_itself_watches_and_takes_a_plain_ingest(tmp_path: Path, tiny_model_dir) -> None:
    """The real commands: `search serve --watch` in a process of its own, then `ingest` on the same data folder."""
    data, watched, other = tmp_path / "data", tmp_path / "watched", tmp_path / "other"
    _docs(watched, 2)
    _docs(other, 3, first=10)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "QDRANT_URL"}
    env.update(ECHO_SEARCH_DATA=str(data), ECHO_SEARCH_MODEL=str(tiny_model_dir), SEARCH_API_KEY="k")
    process = subprocess.Popen(
        [sys.executable, "-c", "from search.cli.app import main; main()", "serve", "--port", str(port),
         "--watch", str(watched)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url, headers = f"http://127.0.0.1:{port}", {"X-API-Key": "k"}
    try:
        wait_for_port(port, timeout=120, process=process)
        announced = json.loads((data / "qdrant" / "service.json").read_text())
        # never the key itself
        assert announced == {"url": url, "pid": process.pid, "needs_key": True, "collection": "docs"}
        _wait(lambda: httpx.get(f"{url}/collection", headers=headers).json().get("files") == 2, timeout=120)
        result = CliRunner(env={"SEARCH_API_KEY": "k"}).invoke(
            ingest_app, [str(other), "--data-dir", str(data), "--model", str(tiny_model_dir)])
        assert result.exit_code == 0, result.output
        assert "3 added" in result.stdout
        assert httpx.get(f"{url}/collection", headers=headers).json()["files"] == 5
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        print(output[-3000:])  # shown when the test fails
    assert not (data / "qdrant" / "service.json").exists()


def test_a_client_that_goes_away_stops_its_ingest(tmp_path: Path, tiny_embedder) -> None:
    docs = tmp_path / "docs"
    _docs(docs, 40)
    store = open_collection(path=tmp_path / "qdrant")
    with running(create_app(Searcher(store=store, embedder=tiny_embedder), ServiceSettings())) as url:
        body = {"paths": [str(docs)], "batch_size": 1}
        with httpx.stream("POST", f"{url}/ingest", json=body, timeout=60) as response:
            assert json.loads(next(response.iter_lines()))["progress"]["files_total"] == 40
        with httpx.stream("POST", f"{url}/ingest", json={"paths": [str(docs)]}, timeout=60) as response:
            last = json.loads(list(response.iter_lines())[-1])  # waits for the first run to stop
    store.close()
    assert last["report"]["counts"]["added"] > 0  # the first run stopped before it added them all
    assert last["report"]["counts"]["added"] + last["report"]["counts"]["unchanged"] == 40


def test_stop_ends_a_streamed_run_with_the_report_so_far(tmp_path: Path, tiny_embedder) -> None:
    docs = tmp_path / "docs"
    _docs(docs, 80)
    store = open_collection(path=tmp_path / "qdrant")
    with running(create_app(Searcher(store=store, embedder=tiny_embedder), ServiceSettings())) as url:
        unknown = httpx.post(f"{url}/ingest/stop", json={"run": "no-such-run"})
        with httpx.stream("POST", f"{url}/ingest", json={"paths": [str(docs)], "batch_size": 1},
                          timeout=60) as response:
            lines = response.iter_lines()
            assert "progress" in json.loads(next(lines))  # the run is going
            stopping = httpx.post(f"{url}/ingest/stop", json={"run": response.headers["X-Ingest-Run"]})
            last = json.loads(list(lines)[-1])
        again = httpx.post(f"{url}/ingest/stop", json={"run": response.headers["X-Ingest-Run"]})
    store.close()
    assert unknown.status_code == 404 and unknown.json()["error"] == "NotFound"
    assert stopping.status_code == 202 and stopping.json() == {"stopping": True}
    assert last["report"]["interrupted"] is True and last["report"]["unfinished"] > 0, last
    assert again.status_code == 404  # the run is over


def _long_docs(folder: Path, n: int) -> None:
    """`n` files of several chunks each (at --chunk-tokens 60), so that a run of one chunk per batch takes a while."""
    folder.mkdir(parents=True)
    for i in range(n):
        body = "\n\n".join(f"Part {j} of file {i}: a paragraph with several words in it." for j in range(10))
        (folder / f"long{i:02d}.txt").write_text(f"Long file {i}\n\n{body}\n")


@pytest.mark.timeout(300)
def test_ctrl_c_on_a_handed_over_ingest_prints_the_report_so_far_and_exits_130(tmp_path: Path, tiny_model_dir,
                                                                               tiny_embedder) -> None:
    """The real `ingest` in a process of its own, handing over to a service; SIGINT as from Ctrl-C."""
    data, docs = tmp_path / "data", tmp_path / "docs"
    _long_docs(docs, 40)
    store = open_collection(path=data / "qdrant")
    app, port = _announced_app(store, tiny_embedder)
    command = [sys.executable, "-c", "from ingest.cli import main; main()", str(docs), "--data-dir", str(data),
               "--model", str(tiny_model_dir), "--json", "--batch-size", "1", "--chunk-tokens", "60"]
    env = {k: v for k, v in os.environ.items()
           if k not in ("QDRANT_URL", "SEARCH_URL", "SEARCH_API_KEY", "ECHO_SEARCH_COLLECTION")}
    with running(app, port):
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert process.stderr is not None
        seen = []
        for line in process.stderr:  # the progress lines a run writes when stderr is not a terminal
            seen.append(line)
            if (match := re.match(r"ingest: files \d+/\d+, (\d+) chunks", line)) and int(match.group(1)) >= 4:
                break
        assert process.poll() is None, "the run finished before it could be interrupted: make the corpus bigger"
        os.kill(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=120)
        err = "".join(seen) + err
        again = _ingest(data, tiny_model_dir, str(docs), "--chunk-tokens", "60")
    sources = store.sources()
    store.close()

    assert process.returncode == 130, err[-2000:]
    assert "handing the ingest over" in err and "finishing the batch in flight" in err and "Traceback" not in err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["interrupted"] is True and report["unfinished"] > 0, report
    assert again.exit_code == 0, again.output
    rest = json.loads(again.stdout.strip().splitlines()[-1])
    assert not rest["interrupted"] and rest["counts"]["unchanged"] >= report["counts"]["added"]
    assert len(sources) == 40


def test_the_service_warns_when_chunks_outgrow_its_models_window(tmp_path: Path, tiny_model_dir) -> None:
    from embedder import Embedder
    from ingest.chunking import window_warning
    from tests.tiny_model import save_tiny_gemma

    windowed = Embedder.from_pretrained(save_tiny_gemma(tmp_path / "gemma", sliding_window=64), device="cpu",
                                        dtype="float32")
    limit = windowed.echo_text_limit(windowed.preset.document)
    assert limit is not None
    data, docs = tmp_path / "data", tmp_path / "docs"
    _docs(docs, 2)
    store = open_collection(path=data / "qdrant")
    app, port = _announced_app(store, windowed)
    with running(app, port):
        over = _ingest(data, tiny_model_dir, "--chunk-tokens", str(limit + 1), str(docs))
        fits = _ingest(data, tiny_model_dir, "--chunk-tokens", str(limit), str(docs))
    store.close()
    warning = window_warning(limit + 1, windowed)
    assert warning is not None
    assert over.exit_code == 0 and "handing the ingest over" in over.stderr, over.output
    assert over.stderr.count(warning) == 1  # as a local run warns: once, on stderr
    assert fits.exit_code == 0 and "warning" not in fits.stderr, fits.output
