"""`search serve` as a child process of the program that needs the store held: the UI, and `ingest --watch`. It
holds the embedded store for everyone (its announcement, `search.store.edge.holder`), logs to `SERVICE_LOG` in the
data folder, and stops when its parent does (`--with-parent`)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from search.settings import Settings
from search.store import StoreUnavailableError

START_TIMEOUT_S = 600.0
"""How long a started service may take to answer (it loads the model first)."""
SERVICE_LOG = "service.log"


class ServiceStartError(StoreUnavailableError):
    """A started service stopped, or did not answer; the message has its own words."""


@dataclass
class ChildService:
    """A `search serve` this process started."""

    url: str
    log: Path
    process: subprocess.Popen[bytes] = field(repr=False)

    def stop(self) -> None:
        """Stop it (SIGTERM: it finishes its batch in flight and withdraws its announcement)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_service(settings: Settings, watch: Sequence[str | Path] = ()) -> ChildService:
    """`search serve` on a free loopback port for `settings` (the environment of this process, which holds them),
    tied to this process, keeping `watch` in sync; returns once it answers `/health`. `ServiceStartError` with the
    service's own error line when it stops first (a locked store, a fingerprint mismatch, a missing model)."""
    port = _free_port()
    command = [sys.executable, "-m", "search", "serve", "--host", "127.0.0.1", "--port", str(port), "--with-parent"]
    for path in watch:
        command += ["--watch", str(path)]
    log = settings.store.data_dir() / SERVICE_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:  # the child keeps its own handle: the log outlives an exec of this process
        start = out.tell()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    service = ChildService(f"http://127.0.0.1:{port}", log, process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with log.open("rb") as written:
                written.seek(start)
                lines = written.read().decode(errors="replace").splitlines()
            raise ServiceStartError(_failure(lines, process.returncode, log))
        try:
            if httpx.get(f"{service.url}/health", timeout=2).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    service.stop()
    raise ServiceStartError(f"the search service this process started did not answer within "
                            f"{START_TIMEOUT_S:.0f} s (its log: {log})")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _failure(lines: list[str], status: int, log: Path) -> str:
    """The started service's own error line (`search serve` prints `error: ...`), else its exit status."""
    errors = [line.split("error:", 1)[1].strip() for line in lines if "error:" in line]
    said = f": {errors[-1]}" if errors else f" with status {status} (its log: {log})"
    return f"the search service this process started stopped{said}"
