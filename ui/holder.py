"""The search service the UI talks to: the one `SEARCH_URL` names, else the one that holds the embedded store (a
`search serve`, `ingest --watch`, another UI), else one the UI starts itself: `search serve` on a free loopback port,
which then holds the store for everyone (`search`, `ingest`, `search eval`, LangChain, MCP reach it through its
announcement) and stops with the UI. The UI process never opens the store or loads the model."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from search.query.backend import holder_url
from search.settings import Settings, SettingsError

START_TIMEOUT_S = 600.0
"""How long a started service may take to answer (it loads the model: about 10 s for Gemma-3-270M on 2 cores)."""


class ServiceStartError(RuntimeError):
    """The service this page started stopped, or did not answer; the message has its own words."""


@dataclass
class Service:
    """A search service and how the UI came by it."""

    url: str
    how: str
    """"SEARCH_URL", "holds the store" (found announced) or "started by this page"."""
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def local(self) -> bool:
        """On this machine and on this data folder: files saved here can be ingested by path."""
        return self.how != "SEARCH_URL"

    def stop(self) -> None:
        """Stop the service if this page started it (it withdraws its announcement)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def find_or_start(settings: Settings) -> Service:
    """The service for `settings` (see the module); folders to watch (`settings.ui.watch`) go to a service this page
    starts, and are a `SettingsError` beside one it did not. Store and model refusals of a started service raise
    `ServiceStartError` with the service's own message."""
    if settings.service.url:
        _no_watch(settings, f"uses the search service at {settings.service.url} (SEARCH_URL)")
        return Service(settings.service.url, "SEARCH_URL")
    if url := holder_url(settings):
        _no_watch(settings, f"found the search service at {url} holding the store")
        return Service(url, "holds the store")
    return _start(settings)


def _no_watch(settings: Settings, where: str) -> None:
    if settings.ui.watch:
        raise SettingsError(f"the UI keeps folders in sync (search-ui --watch, ECHO_SEARCH_UI_WATCH) only through a "
                            f"service it starts, and it {where}: run `search serve --watch PATH` there instead")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(settings: Settings) -> Service:
    """`search serve` for the settings (the environment this process has, which holds them) on loopback, tied to
    this process, its log in `ui-service.log` in the data folder; returns once it answers `/health`."""
    port = _free_port()
    command = [sys.executable, "-m", "search", "serve", "--host", "127.0.0.1", "--port", str(port), "--with-parent"]
    for path in settings.ui.watch:
        command += ["--watch", str(path)]
    log = settings.store.data_dir() / "ui-service.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:  # the child keeps its own handle: the log outlives this process's exec of Streamlit
        start = out.tell()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    service = Service(f"http://127.0.0.1:{port}", "started by this page", process)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with log.open("rb") as written:
                written.seek(start)
                tail = written.read().decode(errors="replace").splitlines()
            raise ServiceStartError(_failure(tail, process.returncode, log))
        try:
            if httpx.get(f"{service.url}/health", timeout=2).status_code == 200:
                return service
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    service.stop()
    raise ServiceStartError(f"the search service this page started did not answer within {START_TIMEOUT_S:.0f} s "
                                f"(its log: {log})")


def _failure(lines: list[str], status: int, log: Path) -> str:
    """The started service's own error line (`search serve` prints `error: ...`), else its exit status."""
    errors = [line.split("error:", 1)[1].strip() for line in lines if "error:" in line]
    said = f": {errors[-1]}" if errors else f" with status {status} (its log: {log})"
    return f"the search service this page started stopped{said}"
