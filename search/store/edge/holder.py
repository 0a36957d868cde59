"""How `ingest` and `search` find the `search serve` that holds an embedded store: a small file next to the store's
lock.

The service writes `service.json` (its URL, pid, collection and whether it needs an API key, never the key) into the
store's folder while it serves, and removes it on exit. `ingest` hands its work to it, and `search` and `search info`
ask it. A file left by a killed service names a dead pid (or a URL that
does not answer), so readers check both before trusting it.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import httpx

FILE = "service.json"


@dataclass(frozen=True)
class Announcement:
    """A running service on a store folder."""

    url: str
    pid: int
    needs_key: bool
    collection: str
    """The one collection the service serves and writes."""


def announce(folder: Path, url: str, needs_key: bool, collection: str) -> Path:
    """Write the discovery file for this process's service of `collection` on `folder` (atomically); returns its
    path."""
    path = folder / FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid(), "needs_key": needs_key, "collection": collection}))
    os.replace(tmp, path)
    return path


def withdraw(path: Path) -> None:
    """Remove the discovery file, if it is still this process's."""
    found = read(path.parent)
    if found is not None and found.pid == os.getpid():
        path.unlink(missing_ok=True)


def read(folder: Path) -> Announcement | None:
    """The announcement in `folder`, or None when there is none or it cannot be read."""
    try:
        data = json.loads((folder / FILE).read_text())
        return Announcement(str(data["url"]), int(data["pid"]), bool(data["needs_key"]), str(data["collection"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def find_service(folder: Path) -> Announcement | None:
    """The service that holds `folder`, when its process is alive and its URL answers `/health`; else None."""
    found = read(folder)
    if found is None or not _alive(found.pid):
        return None
    try:
        httpx.get(f"{found.url}/health", timeout=5).raise_for_status()
    except httpx.HTTPError:
        return None
    return found


def holding_service(folder: Path | None, collection: str) -> str | None:
    """The URL of the live service that holds the embedded store in `folder` (None: a Qdrant server, which has no
    holder): it answers and writes instead, since the store allows one process. None when no service is announced.
    `StoreLockedError` when the service serves another collection than `collection` (it serves and writes its
    own)."""
    if folder is None:
        return None
    from search.store.errors import StoreLockedError

    found = find_service(folder)
    if found is not None and found.collection != collection:
        raise StoreLockedError(f"the search service at {found.url} holds the embedded store and serves collection "
                               f"{found.collection!r}, not {collection!r}: use that one (--collection), or stop the "
                               "service")
    return found.url if found is not None else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def local_url(host: str, port: int) -> str:
    """The URL a client on this machine uses for a service bound to `host`."""
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
