"""`ingest` through a running `search serve` (`POST /ingest`): the process that holds the embedded store writes.

The service announces itself in the store's folder (`search.service_discovery`); `ingest` finds it there, or is
given `--service URL`, and streams the service's progress and report as if it had run the sync itself.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from ingest.report import IngestProgress, IngestReport
from search.errors import ExitCode
from search.store import StoreLockedError


class HandoverError(Exception):
    """The service refused or failed the ingest; `exit_code` is what `ingest` exits with."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


_STATUS_EXIT = {401: ExitCode.REFUSED, 404: ExitCode.REFUSED, 409: ExitCode.REFUSED, 422: ExitCode.USAGE,
                503: ExitCode.REFUSED}


def announced_service(folder: Path, collection: str) -> str | None:
    """The URL of the live `search serve` holding the embedded store at `folder`, if there is one;
    `StoreLockedError` when it serves another collection than `collection` (it writes its own only)."""
    from search.service_discovery import find_service

    found = find_service(folder)
    if found is not None and found.collection != collection:
        raise StoreLockedError(f"the search service at {found.url} holds the embedded store and serves collection "
                               f"{found.collection!r}, not {collection!r}: ingest into that one, or stop the service")
    return found.url if found is not None else None


def ingest_via_service(url: str, api_key: str | None, request: dict[str, Any],
                       progress: Callable[[IngestProgress], None]) -> IngestReport:
    """Run `request` (the body of `POST /ingest`) on the service at `url`, calling `progress` as it streams;
    `HandoverError` when the service refuses, fails or cannot be reached."""
    headers = {"X-API-Key": api_key} if api_key else {}
    try:
        with httpx.stream("POST", f"{url.rstrip('/')}/ingest", json=request, headers=headers,
                          timeout=httpx.Timeout(30.0, read=None)) as response:
            if response.status_code != 200:
                response.read()
                hint = " (set SEARCH_API_KEY)" if response.status_code == 401 else ""
                raise HandoverError(f"the search service at {url} refused: {_detail(response)}{hint}",
                                    _STATUS_EXIT.get(response.status_code, ExitCode.INTERNAL))
            for line in response.iter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                if "progress" in event:
                    progress(IngestProgress(**event["progress"]))
                elif "report" in event:
                    return IngestReport.from_dict(event["report"])
                else:
                    error = event["error"]
                    raise HandoverError(error["detail"], int(error["exit_code"]))
    except httpx.TransportError as exc:
        raise HandoverError(f"cannot reach the search service at {url}: {exc}", ExitCode.REFUSED) from exc
    raise HandoverError(f"the search service at {url} ended the ingest without a report (see its log)",
                        ExitCode.INTERNAL)


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
