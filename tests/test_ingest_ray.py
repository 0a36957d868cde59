"""`ingest --ray`: the Ray runner against a plain ingest (a local Ray of 2 CPUs, the tiny model, embedded store)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ingest import IngestOptions, ingest_paths
from ingest.cli import app
from search.store import CLASSICAL, ECHO, Collection, open_collection

ray = pytest.importorskip("ray")

from ingest.ray_runner import ingest_paths_ray  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    """One local Ray for the module; workers import this checkout (the PYTHONPATH of the tests)."""
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in [root, os.environ.get("PYTHONPATH", "")] if p)
    ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING", log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path, "OMP_NUM_THREADS": "1"}})
    yield
    ray.shutdown()


@pytest.fixture
def load_options(tiny_model_dir: Path) -> dict[str, object]:
    return {"model": tiny_model_dir, "device": "cpu", "dtype": "float32"}


def write_docs(folder: Path) -> Path:
    folder.mkdir()
    for i in range(6):
        (folder / f"note{i}.md").write_text(
            f"# Note {i}\n\n" + "\n\n".join(f"Paragraph {j} of note {i} says something about topic {j * i}."
                                              for j in range(3 + 4 * i)))
    (folder / "empty.txt").write_text("")
    return folder


def payloads(store: Collection) -> dict[str, dict]:
    return {id_: record.as_dict() for id_, record in store.records()}


def open_store(path: Path) -> Collection:
    return open_collection(path=path)


def test_ray_ingest_writes_the_collection_of_a_plain_ingest(tmp_path, tiny_embedder, load_options):
    docs = write_docs(tmp_path / "docs")
    plain, distributed = open_store(tmp_path / "plain"), open_store(tmp_path / "ray")
    try:
        expected = ingest_paths(IngestOptions(paths=[docs], batch_size=8), plain, tiny_embedder)
        report = ingest_paths_ray(IngestOptions(paths=[docs], batch_size=8), distributed, tiny_embedder, load_options)
        assert [(f.source, f.status, f.chunks, f.reason) for f in report.files] == [
            (f.source, f.status, f.chunks, f.reason) for f in expected.files]
        assert report.chunks == expected.chunks and not report.ok  # the empty file failed in both
        assert payloads(distributed) == payloads(plain)
        for name in (ECHO, CLASSICAL):  # rows in id order: the same points in both
            np.testing.assert_allclose(distributed.sample_vectors([name], 10_000)[name],
                                       plain.sample_vectors([name], 10_000)[name], atol=1e-5)

        again = ingest_paths_ray(IngestOptions(paths=[docs], batch_size=8), distributed, tiny_embedder, load_options)
        assert {f.status for f in again.files} == {"unchanged", "failed"} and again.chunks == 0
    finally:
        plain.close()
        distributed.close()


def test_an_interrupted_ray_run_is_finished_by_the_next_without_duplicates(tmp_path, tiny_embedder, load_options):
    docs = write_docs(tmp_path / "docs")
    store = open_store(tmp_path / "ray")
    stop = threading.Event()
    try:
        first = ingest_paths_ray(IngestOptions(paths=[docs], batch_size=4), store, tiny_embedder, load_options,
                                 progress=lambda _: stop.set(), stop=stop)
        assert first.interrupted and first.unfinished > 0
        second = ingest_paths_ray(IngestOptions(paths=[docs], batch_size=4), store, tiny_embedder, load_options)
        assert not second.interrupted
        records = [record for _, record in store.records()]
        keys = [(r.source, r.chunk_index) for r in records]
        assert len(keys) == len(set(keys)) == first.chunks + second.chunks
        assert all(r.n_chunks == sum(1 for k in keys if k[0] == r.source) for r in records)  # every file complete
    finally:
        store.close()


def test_the_ingest_command_with_ray_reports_like_a_plain_one(tmp_path, tiny_model_dir):
    docs = write_docs(tmp_path / "docs")
    runs = [CliRunner().invoke(app, [str(docs), "--data-dir", str(tmp_path / name), "--model", str(tiny_model_dir),
                                     "--json", *extra])
            for name, extra in [("plain", []), ("ray", ["--ray", "local"])]]
    assert [r.exit_code for r in runs] == [1, 1]  # the empty file failed
    files = [json.loads(r.stdout.strip().splitlines()[-1])["files"] for r in runs]
    assert files[0] == files[1]
    refused = CliRunner().invoke(app, [str(docs), "--ray", "local", "--shard", "0/2", "--data-dir", str(tmp_path)])
    assert refused.exit_code == 2


def embed_actor_pids() -> list[int]:
    """Processes of this test's Ray that run an embedding actor (Ray titles them after the operator)."""
    import psutil

    return [p.pid for p in psutil.Process().children(recursive=True)
            if "EmbedActor" in " ".join(p.cmdline() if p.is_running() else [])]


def test_an_actor_killed_mid_run_has_its_batch_retried(tmp_path, tiny_embedder, load_options):
    docs = write_docs(tmp_path / "docs")
    plain, distributed = open_store(tmp_path / "plain"), open_store(tmp_path / "ray")
    killed: list[int] = []

    def kill_once(_: object) -> None:
        if not killed and (pids := embed_actor_pids()):
            os.kill(pids[0], signal.SIGKILL)
            killed.append(pids[0])

    try:
        expected = ingest_paths(IngestOptions(paths=[docs], batch_size=4), plain, tiny_embedder)
        report = ingest_paths_ray(IngestOptions(paths=[docs], batch_size=4), distributed, tiny_embedder, load_options,
                                  progress=kill_once)
        assert killed, "no embedding actor found to kill"
        assert not report.interrupted and report.chunks == expected.chunks
        assert payloads(distributed) == payloads(plain)
    finally:
        plain.close()
        distributed.close()


def test_a_plain_ingest_does_not_import_ray():
    code = "import sys, ingest.cli, ingest.pipeline; assert 'ray' not in sys.modules, 'ray imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).resolve().parents[1])
