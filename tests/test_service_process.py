"""`search serve` as a real process (CLI -> uvicorn on loopback), with the tiny model and a real local Qdrant."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.search_helpers import fill_path, free_port, wait_for_port

pytestmark = pytest.mark.slow

KEY = "process-key"


def _serve(data_dir: Path, model: Path, port: int, **env: str) -> subprocess.Popen[str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("QDRANT_URL", "SEARCH_API_KEY")}
    environ.update(ECHO_SEARCH_DATA=str(data_dir), ECHO_SEARCH_MODEL=str(model), **env)
    return subprocess.Popen(
        [sys.executable, "-c", "from search.cli.app import main; main()", "serve", "--port", str(port)],
        env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    from embedder import Embedder

    folder = tmp_path_factory.mktemp("serve-process")
    fill_path(folder / "qdrant", Embedder.from_pretrained(tiny_model_dir))
    return folder


@pytest.fixture(scope="module")
def server(data_dir: Path, tiny_model_dir: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    port = free_port()
    process = _serve(data_dir, tiny_model_dir, port, SEARCH_API_KEY=KEY)
    try:
        wait_for_port(port, timeout=120, process=process)
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_serves_on_loopback_with_the_api_key(server: tuple[str, subprocess.Popen[str]]) -> None:
    url, _ = server
    assert httpx.post(f"{url}/search", json={"query": "kettle"}).status_code == 401
    response = httpx.post(f"{url}/search", json={"query": "kettle", "k": 2}, headers={"X-API-Key": KEY})
    assert response.status_code == 200
    assert len(response.json()["echo"]) == 2
    bad = httpx.post(f"{url}/search", json={"query": "kettle", "k": 500}, headers={"X-API-Key": KEY})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("k:")
    assert httpx.get(f"{url}/health").json()["status"] == "ok"


def test_a_second_server_on_the_same_embedded_store_exits_with_the_lock_message(
    server: tuple[str, subprocess.Popen[str]], data_dir: Path, tiny_model_dir: Path
) -> None:
    second = _serve(data_dir, tiny_model_dir, free_port())
    output, _ = second.communicate(timeout=120)
    assert second.returncode == 3
    assert "in use by another process" in output
    assert "Traceback" not in output
