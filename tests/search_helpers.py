"""Helpers for search tests: fill a real local Qdrant collection through `search.store`, run uvicorn on loopback."""

from __future__ import annotations

import hashlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from search.store import ChunkPoint, ChunkRecord, Collection, open_collection, point_id

DOCS: dict[str, list[str]] = {
    "/docs/garden.md": [
        "Tomatoes need six to eight hours of direct sun and deep watering twice a week.",
        "Compost made from kitchen scraps and dry leaves feeds the soil over the winter.",
    ],
    "/docs/kitchen.md": [
        "To descale the kettle, boil a mix of water and white vinegar, then rinse it three times.",
        "Bread dough rises best in a warm place covered with a damp cloth for about an hour.",
    ],
    "/docs/cycling.md": [
        "Pump road bike tyres to the pressure printed on the sidewall before every long ride.",
        "A chain that squeaks needs cleaning with a degreaser and a drop of oil on each link.",
    ],
}


def fill(store: Collection, embedder, docs: dict[str, list[str]] = DOCS) -> int:
    """Write every chunk of `docs` with both vectors, as `ingest` would; returns the number of points."""
    store.ensure(embedder.fingerprint, embedder.describe(), embedder.dim)
    points = []
    for source, chunks in docs.items():
        digest = hashlib.sha256("\n".join(chunks).encode()).hexdigest()
        vectors = embedder.encode(chunks, kind="document")
        for i, text in enumerate(chunks):
            vector = {"echo": vectors.echo[i]}
            if vectors.classical is not None:
                vector["classical"] = vectors.classical[i]
            record = ChunkRecord(source, i, text, content_hash=digest)
            points.append(ChunkPoint(point_id(source, i, digest), vector, record))
    store.upsert(points)
    return len(points)


def fill_path(path: Path, embedder, docs: dict[str, list[str]] = DOCS, collection: str = "docs") -> int:
    """Fill the embedded store at `path` and close it again (so another process can open it)."""
    store = open_collection(path=path, collection=collection)
    try:
        return fill(store, embedder, docs)
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving_streamlit(command: list[str], env: dict[str, str], log_path: Path, url: str,
                      timeout: float = 120.0) -> Iterator[subprocess.Popen[bytes]]:
    """Run a Streamlit server (`command`, from the repository root, its output in `log_path`) until `url`'s
    `/_stcore/health` answers ok (the test fails with the log if it exits or takes over `timeout` s); always
    stopped afterwards."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[1], env=env, stdout=log,
                                stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + timeout
            while True:
                assert proc.poll() is None, log_path.read_text()
                try:
                    if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, f"not healthy in {timeout:.0f} s: {log_path.read_text()}"
                time.sleep(0.3)
            yield proc
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_for_port(port: int, timeout: float = 60.0, process: subprocess.Popen[str] | None = None) -> None:
    """Return once something listens on the loopback `port`; fail early if `process` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            output = process.stdout.read() if process.stdout else ""
            raise RuntimeError(f"the server exited with status {process.returncode}:\n{output[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextmanager
def running(app, port: int | None = None) -> Iterator[str]:
    """Serve `app` with a real uvicorn on loopback in a thread; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
