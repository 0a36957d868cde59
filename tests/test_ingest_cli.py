"""The `ingest` command: exit codes, JSON report, locked store, watch mode, a real Ctrl-C and a real `kill -9`."""

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

import pytest
from typer.testing import CliRunner

from ingest.cli import app
from search.store import open_collection

ROOT = Path(__file__).resolve().parents[1]


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def test_usage_errors_exit_2(tmp_path):
    missing = invoke(str(tmp_path / "nope"), "--data-dir", str(tmp_path))
    assert missing.exit_code == 2 and "no such file or folder" in missing.output
    bad_shard = invoke(str(tmp_path), "--shard", "5/2", "--data-dir", str(tmp_path))
    assert bad_shard.exit_code == 2 and "--shard" in bad_shard.output
    help_text = invoke("--help")
    assert help_text.exit_code == 0 and "--qdrant-url" in help_text.output and "--watch" in help_text.output
    assert "--max-file-mb" in help_text.output and "--max-file-chunks" in help_text.output
    assert "130 interrupted" in " ".join(help_text.output.split())


def test_a_bad_ray_address_is_a_usage_error_listing_the_forms_and_never_an_option_read_as_one(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    data = tmp_path / "data"
    for address in ("--json", "not an address", "http://head:6379", "head:0"):
        result = invoke(str(docs), "--ray", address, "--data-dir", str(data))
        flat = " ".join(result.output.split())
        assert result.exit_code == 2, result.output  # was exit 4: "ValueError: Invalid address format"
        assert "is not a Ray address" in flat and "'local'" in flat and "'auto'" in flat, flat
        assert "HOST:PORT" in flat and "ray://HOST:PORT" in flat, flat
    assert "--ray local --json" in " ".join(invoke(str(docs), "--ray", "--json").output.split())
    assert not data.exists()  # refused before anything was opened


def test_json_report_and_exit_1_when_a_file_fails(tmp_path, tiny_model_dir):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Good\n\nA perfectly fine document.\n")
    (docs / "bad.pdf").write_bytes(b"not a pdf at all")
    result = invoke(str(docs), "--data-dir", str(tmp_path / "data"), "--model", str(tiny_model_dir), "--json")
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["counts"]["added"] == 1 and report["counts"]["failed"] == 1 and report["chunks"] == 1
    assert [f["reason"] for f in report["files"] if f["status"] == "failed"][0].startswith("corrupt")
    (docs / "bad.pdf").unlink()
    again = invoke(str(docs), "--data-dir", str(tmp_path / "data"), "--model", str(tiny_model_dir))
    assert again.exit_code == 0 and "1 unchanged" in again.stdout


def test_locked_embedded_store_says_which_path_and_what_to_do(tmp_path, tiny_model_dir):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("text")
    holder = open_collection(path=tmp_path / "data" / "qdrant")
    try:
        result = invoke(str(docs), "--data-dir", str(tmp_path / "data"), "--model", str(tiny_model_dir))
    finally:
        holder.close()
    assert result.exit_code == 3
    assert str(tmp_path / "data" / "qdrant") in result.output and "--qdrant-url" in result.output


def test_missing_model_and_fingerprint_mismatch_exit_3(tmp_path, tiny_model_dir):
    from tests.tiny_model import save_tiny_model

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("text")
    data = str(tmp_path / "data")
    missing = invoke(str(docs), "--data-dir", data, "--model", str(tmp_path / "no-such-model"))
    assert missing.exit_code == 3 and "cannot load model" in missing.output
    too_big = invoke(str(docs), "--data-dir", data, "--model", str(tiny_model_dir), "--chunk-tokens", "9999")
    assert too_big.exit_code == 2 and "--chunk-tokens 9999" in too_big.output  # a bad argument stays a usage error
    assert invoke(str(docs), "--data-dir", data, "--model", str(tiny_model_dir)).exit_code == 0
    other = save_tiny_model(tmp_path / "other-tiny")
    mismatch = invoke(str(docs), "--data-dir", data, "--model", str(other))
    assert mismatch.exit_code == 3 and "--collection" in mismatch.output


def test_a_changed_default_layer_is_refused_naming_rebuild_which_re_embeds_in_place(
    tmp_path, tiny_model_dir, monkeypatch
):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Bees make honey in the summer.")
    (docs / "b.txt").write_text("Kubernetes rolls back a bad release.")
    data = str(tmp_path / "data")
    assert invoke(str(docs), "--data-dir", data, "--model", str(tiny_model_dir)).exit_code == 0
    (docs / "b.txt").unlink()
    monkeypatch.setenv("ECHO_SEARCH_LAYER", "1")  # what an upgrade that moves the default layer looks like
    refused = invoke(str(docs), "--data-dir", data, "--model", str(tiny_model_dir))
    assert refused.exit_code == 3 and "ingest PATH... --rebuild" in " ".join(refused.output.split())
    assert invoke(str(docs), "--rebuild", "--shard", "0/2", "--data-dir", data).exit_code == 2
    rebuilt = invoke(str(docs), "--data-dir", data, "--model", str(tiny_model_dir), "--rebuild", "--json")
    assert rebuilt.exit_code == 0, rebuilt.output
    assert "deleting collection 'docs' (2 points)" in rebuilt.output
    with open_collection(path=tmp_path / "data" / "qdrant") as store:
        assert store.sources() == [str((docs / "a.txt").resolve())]
        assert store.metadata()["embedder"]["layer"] == 1


def test_a_model_that_cannot_load_exits_3_saying_how_to_fix_it_and_a_bad_dtype_is_usage(
    tmp_path, tiny_model_dir, monkeypatch
):
    docs, empty = tmp_path / "docs", tmp_path / "not-a-model"
    docs.mkdir()
    empty.mkdir()
    data = str(tmp_path / "data")
    not_a_model = invoke(str(docs), "--data-dir", data, "--model", str(empty))
    flat = " ".join(not_a_model.output.split())
    assert not_a_model.exit_code == 3, not_a_model.output
    assert "cannot load model" in flat and str(empty) in flat and "ECHO_SEARCH_MODEL" in flat
    assert "internal error" not in flat and "Traceback" not in flat
    monkeypatch.setenv("ECHO_SEARCH_DTYPE", "float64")
    bad_dtype = invoke(str(docs), "--data-dir", data, "--model", str(tiny_model_dir))
    assert bad_dtype.exit_code == 2 and "unknown dtype 'float64'" in bad_dtype.output, bad_dtype.output


def test_unexpected_error_exits_4_with_its_own_message(tmp_path, tiny_model_dir, monkeypatch):
    import ingest.cli

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise TypeError("something nobody expected")

    monkeypatch.setattr(ingest.cli, "ingest_paths", broken)
    docs = tmp_path / "docs"
    docs.mkdir()
    result = invoke(str(docs), "--data-dir", str(tmp_path / "data"), "--model", str(tiny_model_dir))
    assert result.exit_code == 4
    assert "internal error" in result.output and "TypeError: something nobody expected" in result.output


def test_a_library_value_error_while_opening_is_internal_but_a_malformed_url_is_usage(
    tmp_path, tiny_model_dir, monkeypatch
):

    malformed = invoke(str(tmp_path), "--qdrant-url", "http://host:notaport", "--model", str(tiny_model_dir))
    assert malformed.exit_code == 2 and "invalid --qdrant-url" in malformed.output

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr("search.store.open_collection", broken)  # `ingest` looks it up there when it opens
    result = invoke(str(tmp_path), "--data-dir", str(tmp_path / "data"), "--model", str(tiny_model_dir))
    assert result.exit_code == 4, result.output
    assert "internal error" in result.output and "ValueError: operands could not be broadcast" in result.output


def test_watch_syncs_new_files(tmp_path, tiny_embedder):
    from ingest import IngestOptions, ingest_paths
    from ingest.watch import watch_paths

    docs = tmp_path / "docs"
    docs.mkdir()
    store = open_collection(path=tmp_path / "q")
    stop = threading.Event()
    reports = []
    thread = threading.Thread(
        target=watch_paths,
        args=([docs], lambda: reports.append(ingest_paths(IngestOptions(paths=[docs]), store, tiny_embedder)), stop),
    )
    thread.start()
    try:
        time.sleep(0.5)
        (docs / "new.txt").write_text("A file that appeared while watching.")
        deadline = time.time() + 30
        while not reports and time.time() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        thread.join(timeout=10)
    assert reports and reports[0].count("added") == 1
    assert store.count() == 1
    store.close()


def _corpus(docs: Path) -> None:
    docs.mkdir()
    for i in range(6):
        body = "\n\n".join(f"Part {j} of long file {i}: a paragraph with several words in it." for j in range(12))
        (docs / f"long{i}.txt").write_text(f"Long file {i}\n\n{body}\n")
    for i in range(30):
        (docs / f"small{i:02d}.md").write_text(f"# Small {i}\n\nShort note number {i}.\n")


def _command(docs: Path, data: Path, model: Path) -> list[str]:
    return [sys.executable, "-m", "ingest", str(docs), "--data-dir", str(data), "--model", str(model),
            "--batch-size", "2", "--chunk-tokens", "60", "--json"]


def _stored(data: Path) -> int:
    """Points in the embedded store under `data` (opened after the writer is gone: one process at a time)."""
    with open_collection(path=data / "qdrant") as store:
        return store.count()


def _chunks_reported(line: str) -> int:
    """Chunks stored so far, from a progress line `ingest: files 3/36, 12 chunks (...)` (0 for other lines)."""
    match = re.match(r"ingest: files \d+/\d+, (\d+) chunks", line)
    return int(match.group(1)) if match else 0


def _state(data: Path) -> dict[str, tuple]:
    store = open_collection(path=data / "qdrant")
    try:
        return {pid: (r.source, r.chunk_index, r.text, r.n_chunks) for pid, r in store.records()}
    finally:
        store.close()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_kill_9_mid_run_then_rerun_equals_an_uninterrupted_run(tmp_path, tiny_model_dir):
    docs = tmp_path / "docs"
    _corpus(docs)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    killed_data = tmp_path / "killed"
    proc = subprocess.Popen(_command(docs, killed_data, tiny_model_dir), cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:  # the progress lines a run writes when stderr is not a terminal
        if _chunks_reported(line) >= 12:
            break
    assert proc.poll() is None, "the run finished before it could be killed: make the corpus bigger"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    at_kill = _stored(killed_data)

    resumed = subprocess.run(_command(docs, killed_data, tiny_model_dir), cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=200)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    clean_data = tmp_path / "clean"
    clean = subprocess.run(_command(docs, clean_data, tiny_model_dir), cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=200)
    assert clean.returncode == 0, clean.stderr[-2000:]

    killed_state, clean_state = _state(killed_data), _state(clean_data)
    assert 0 < at_kill < len(clean_state)
    assert killed_state == clean_state  # same ids, same payloads: no duplicates, no orphans
    resumed_report = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert resumed_report["chunks"] <= len(clean_state) - at_kill + 2  # only what was missing got embedded


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_ctrl_c_finishes_the_batch_prints_the_report_and_exits_130(tmp_path, tiny_model_dir):
    docs = tmp_path / "docs"
    _corpus(docs)
    (docs / "bad.pdf").write_bytes(b"not a pdf at all")  # the smallest file: handled (and failed) first
    data = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(_command(docs, data, tiny_model_dir), cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stderr is not None
    for line in proc.stderr:
        if _chunks_reported(line) >= 6:
            break
    assert proc.poll() is None, "the run finished before it could be interrupted: make the corpus bigger"
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 130, err[-2000:]
    assert "finishing the batch in flight" in err and "Traceback" not in err
    report = json.loads(out.strip().splitlines()[-1])
    assert report["interrupted"] is True and report["unfinished"] > 0
    assert [f["reason"] for f in report["files"] if f["status"] == "failed"][0].startswith("corrupt")
    added = {f["source"] for f in report["files"] if f["status"] == "added"}
    assert added and report["counts"]["added"] + report["counts"]["failed"] + report["unfinished"] == 37

    rerun = subprocess.run(_command(docs, data, tiny_model_dir), cwd=ROOT, env=env, capture_output=True,
                           text=True, timeout=200)
    assert rerun.returncode == 1, rerun.stderr[-2000:]  # bad.pdf still fails
    again = json.loads(rerun.stdout.strip().splitlines()[-1])
    unchanged = {f["source"] for f in again["files"] if f["status"] == "unchanged"}
    assert added <= unchanged  # complete stays complete (a file stored just as Ctrl-C came may be unreported)
    assert again["counts"]["added"] == 36 - len(unchanged) and not again["interrupted"]
    state = _state(data)
    per_file: dict[str, set[int]] = {}
    for source, index, _, n_chunks in state.values():
        per_file.setdefault(source, set()).add(index)
        assert n_chunks > 0
    assert len(per_file) == 36
    assert all(indices == set(range(len(indices))) for indices in per_file.values())  # no duplicates, no gaps


def test_a_bad_file_name_or_invalid_unicode_fails_that_file_and_the_rest_go_in(tmp_path, tiny_model_dir, monkeypatch):
    import ingest.stages

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        (docs / f"ok{i}.md").write_text(f"# Note {i}\n\nSome text number {i}.\n")
    (docs / "boom.md").write_text("# Boom\n\nThis one trips the chunker.\n")
    with open(os.path.join(os.fsencode(docs), b"bad\xff.txt"), "wb") as f:
        f.write(b"a file whose name is not UTF-8")
    (docs / "surrogate.json").write_text('{"a": "\\ud800"}')
    real_parse = ingest.stages.parse_file

    def parse(path):  # noqa: ANN001, ANN202
        if path.name == "boom.md":
            raise TypeError("an unforeseen problem with this one file")
        return real_parse(path)

    monkeypatch.setattr(ingest.stages, "parse_file", parse)
    args = [str(docs), "--data-dir", str(tmp_path / "data"), "--model", str(tiny_model_dir), "--json"]
    for run in ("first", "again"):
        result = invoke(*args)
        assert result.exit_code == 1, (run, result.output)
        report = json.loads(result.stdout.strip().splitlines()[-1])
        assert report["counts"]["added" if run == "first" else "unchanged"] == 6
        failed = {Path(f["source"]).name: f["reason"] for f in report["files"] if f["status"] == "failed"}
        assert set(failed) == {"bad\\xff.txt", "surrogate.json", "boom.md"}, failed
        assert "not valid UTF-8" in failed["bad\\xff.txt"] and "\\ud800" in failed["surrogate.json"]
        assert "TypeError" in failed["boom.md"]
    summary = invoke(*args[:-1])
    assert summary.exit_code == 1 and "bad\\xff.txt: the file name is not valid UTF-8" in summary.stdout


REFUSED_PROBE = """
import sys
from {module} import app
try:
    app({args!r})
except SystemExit as exc:
    print("exit", exc.code, "torch imported:", "torch" in sys.modules)
"""


@pytest.mark.slow
def test_a_locked_store_is_refused_before_torch_or_the_model_loads(tmp_path, tiny_model_dir):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("text")
    data = tmp_path / "data"
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    assert invoke(str(docs), "--data-dir", str(a_file)).exit_code == 2  # a data folder that is a file: usage
    holder = open_collection(data_dir=data)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    try:
        for module, args in (
            ("ingest.cli", [str(docs), "--data-dir", str(data), "--model", str(tiny_model_dir)]),
            ("search.cli.app", ["a question", "--data-dir", str(data), "--model", str(tiny_model_dir)]),
            ("search.cli.app", ["info", "--data-dir", str(data)]),
            ("search.cli.app", ["serve", "--data-dir", str(data), "--model", str(tiny_model_dir)]),
        ):
            probe = subprocess.run([sys.executable, "-c", REFUSED_PROBE.format(module=module, args=args)], cwd=ROOT,
                                   env=env, capture_output=True, text=True, timeout=300)
            assert "in use by another process" in " ".join(probe.stderr.split()), (module, probe.stderr)
            assert probe.stdout.split()[-5:] == ["exit", "3", "torch", "imported:", "False"], (module, probe.stdout)
    finally:
        holder.close()
