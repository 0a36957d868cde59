"""Importing or using the library leaves the process alone; the commands and the UI tune their own process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from embedder.model_thread import KERNEL_CACHE_ENV
from ingest.offline import OPT_OUT_ENV

ROOT = Path(__file__).resolve().parents[1]

STATE = """
import json, os, sys, threading
import numpy  # loads the OpenBLAS whose thread count the embedder used to cap
from threadpoolctl import threadpool_info

def state():
    pools = {lib["filepath"]: lib["num_threads"] for lib in threadpool_info()}
    return {"env": dict(os.environ), "pools": pools, "threads": sorted(t.name for t in threading.enumerate())}
"""

LIBRARY_USE = STATE + """
before = state()
import embedder, embedder.langchain, ingest, search.langchain
imported = state()
import torch
torch_threads = torch.get_num_threads()
from embedder.langchain import EchoEmbeddings
emb = EchoEmbeddings(model=sys.argv[1], device="cpu", dtype="float32")
emb.embed_documents(["a first document", "a second one"])
emb.embed_query("which document?")
used = state()
print(json.dumps({"before": before, "imported": imported, "used": used,
                  "torch_threads": [torch_threads, torch.get_num_threads()]}))
"""

TUNED = STATE + """
os.environ["LRU_CACHE_CAPACITY"] = "7"  # set by the user: kept
from embedder import tune_process
tune_process("cpu")
after = state()
print(json.dumps({"env": {k: after["env"].get(k) for k in ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")},
                  "blas": [lib["num_threads"] for lib in threadpool_info() if lib["internal_api"] == "openblas"]}))
"""


def _run(script: str, *args: str) -> dict:
    """Run `script` in a fresh interpreter whose environment holds none of the variables this project sets."""
    env = {k: v for k, v in os.environ.items() if k not in (*KERNEL_CACHE_ENV, *OPT_OUT_ENV)}
    done = subprocess.run([sys.executable, "-c", script, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_importing_and_using_the_embedder_changes_no_process_setting(tiny_model_dir: Path) -> None:
    out = _run(LIBRARY_USE, str(tiny_model_dir))
    before, imported, used = out["before"], out["imported"], out["used"]
    assert imported["env"] == before["env"] and used["env"] == before["env"]
    assert imported["threads"] == before["threads"]  # no model thread until the model is used
    assert any("openblas" in path for path in before["pools"])  # numpy's, so the checks below see it
    for pools in (imported["pools"], used["pools"]):
        assert {path: pools[path] for path in before["pools"]} == before["pools"]
    assert {path: used["pools"][path] for path in imported["pools"]} == imported["pools"]  # torch's OpenMP too
    assert out["torch_threads"][0] == out["torch_threads"][1]


def test_tune_process_bounds_kernel_caches_and_blas_but_keeps_what_the_user_set() -> None:
    out = _run(TUNED)
    assert out["env"] == {"ONEDNN_PRIMITIVE_CACHE_CAPACITY": "64", "LRU_CACHE_CAPACITY": "7"}
    assert out["blas"] and set(out["blas"]) == {1}


def _recorder(calls: list[str], name: str):  # noqa: ANN202
    def record(*args: object, **kwargs: object) -> None:
        calls.append(name)

    return record


def test_the_commands_and_the_service_tune_their_process_before_loading(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    import embedder
    import ingest.cli
    from search.cli.app import app as search_app
    from search.store import Collection, StoreUnavailableError, open_collection

    calls: list[str] = []

    def opening(*args: object, **kwargs: object) -> Collection:
        calls.append("open")
        return open_collection(*args, **kwargs)  # type: ignore[arg-type]

    def refuse(*args: object, **kwargs: object) -> None:
        calls.append("load")
        raise StoreUnavailableError("stopped here by the test")

    monkeypatch.setattr(embedder, "tune_process", _recorder(calls, "tune"))
    monkeypatch.setattr(ingest.cli, "setup_offline", _recorder(calls, "offline"))
    # `ingest`, `search` and the UI look `open_collection` up in `search.store` when they open the store
    monkeypatch.setattr("search.store.open_collection", opening)
    monkeypatch.setattr(embedder.Embedder, "from_pretrained", refuse)
    monkeypatch.setenv("ECHO_SEARCH_DATA", str(tmp_path))
    # the store is opened first (a locked or damaged one is refused before torch loads), the process is tuned
    # before the model loads
    assert CliRunner().invoke(ingest.cli.app, [str(tmp_path)]).exit_code == 3
    assert calls == ["open", "offline", "tune", "load"]

    calls.clear()
    assert CliRunner().invoke(search_app, ["a question"]).exit_code == 3
    assert calls == ["open", "tune", "load"]

    calls.clear()  # the service (also the one the UI starts: the UI itself loads no model)
    assert CliRunner().invoke(search_app, ["serve"]).exit_code == 3
    assert calls == ["open", "tune", "load"]
