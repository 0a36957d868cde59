"""`ingest` through a running `search serve` (`POST /ingest`): the process that holds the embedded store writes.

The service announces itself in the store's folder (`search.store.edge.holder`); `ingest` finds it there, or is
given `--service URL`, and streams the service's progress, warning and report as if it had run the sync itself. On
Ctrl-C it asks the service to stop the run (`POST /ingest/stop`) and still gets the report so far.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import httpx

from ingest.events import ProgressEvent, ReportEvent, WarningEvent, read_event
from ingest.options import IngestOptions
from ingest.report import IngestProgress, IngestReport
from search.errors import ExitCode, exit_for_status

RUN_HEADER = "X-Ingest-Run"
"""The header of the service's answer to `POST /ingest` that holds the run's id (for `POST /ingest/stop`)."""


class HandoverError(Exception):
    """The service refused or failed the ingest; `exit_code` is what `ingest` exits with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def ingest_via_service(url: str, api_key: str | None, options: IngestOptions,
                       progress: Callable[[IngestProgress], None], warn: Callable[[str], None],
                       stop: threading.Event) -> IngestReport:
    """Run `options` (the body of `POST /ingest`: paths as the service's machine sees them) on the service at `url`,
    calling `progress` and `warn` as it streams (`ingest.events`); setting `stop` asks the service to stop the run
    after its batch in flight, and the report so far comes back (`report.interrupted`). `HandoverError` when the
    service refuses, fails or cannot be reached."""
    url = url.rstrip("/")
    headers = {"X-API-Key": api_key} if api_key else {}
    streaming = threading.Event()  # cleared once the stream is over: nothing left to stop
    try:
        with httpx.stream("POST", f"{url}/ingest", json=options.model_dump(mode="json"), headers=headers,
                          timeout=httpx.Timeout(30.0, read=None)) as response:
            if response.status_code != 200:
                response.read()
                hint = " (set SEARCH_API_KEY)" if response.status_code == 401 else ""
                raise HandoverError(f"the search service at {url} refused: {_detail(response)}{hint}",
                                    exit_for_status(response.status_code))
            streaming.set()
            threading.Thread(target=_stop_when_asked, args=(url, headers, response.headers[RUN_HEADER], stop,
                                                            streaming), name="ingest-stop", daemon=True).start()
            for line in response.iter_lines():
                if not line.strip():
                    continue
                try:
                    event = read_event(line)
                except ValueError as exc:
                    raise HandoverError(f"the search service at {url} sent what is not an ingest event: {exc}",
                                        ExitCode.INTERNAL) from None
                if isinstance(event, ProgressEvent):
                    progress(event.progress)
                elif isinstance(event, WarningEvent):
                    warn(event.warning)
                elif isinstance(event, ReportEvent):
                    return event.report
                else:
                    raise HandoverError(event.error.detail, event.error.exit_code)
    except httpx.TransportError as exc:
        raise HandoverError(f"cannot reach the search service at {url}: {exc}", ExitCode.REFUSED) from exc
    finally:
        streaming.clear()
    raise HandoverError(f"the search service at {url} ended the ingest without a report (see its log)",
                        ExitCode.INTERNAL)


def _stop_when_asked(url: str, headers: dict[str, str], run: str, stop: threading.Event,
                     streaming: threading.Event) -> None:
    """Once `stop` is set (the first Ctrl-C), ask the service to stop `run`; return early when the stream ends."""
    while not stop.wait(0.1):
        if not streaming.is_set():
            return
    # a failed request changes nothing: the stream still ends with the report, or with an error
    if streaming.is_set():
        with contextlib.suppress(httpx.HTTPError):
            httpx.post(f"{url}/ingest/stop", json={"run": run}, headers=headers, timeout=10)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
