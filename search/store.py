"""The Qdrant collection: schema, client (embedded path or server URL) and embedder fingerprint checks.

This is the one place the collection layout is defined; `ingest` writes through it and `search` reads through it.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

ECHO = "echo"
CLASSICAL = "classical"
VECTOR_NAMES = (ECHO, CLASSICAL)

# Payload fields of every chunk point.
SOURCE = "source"  # path of the file the chunk came from (as given to ingest, resolved)
CHUNK_INDEX = "chunk_index"  # position of the chunk in its file, from 0
TEXT = "text"  # the chunk text that was embedded
CONTENT_HASH = "content_hash"  # sha256 of the whole source file: unchanged files are skipped
TITLE = "title"  # section title the chunk sits under, when known
PAGE = "page"  # page number, when known

# Collection metadata: a number that changes on every write through `Store`, so that every process (a service
# next to an `ingest --watch`) can tell that answers it cached are stale, even when the point count stays the same.
GENERATION = "generation"

DEFAULT_COLLECTION = "docs"
_ID_NAMESPACE = uuid.UUID("6f1c1d1e-5b0a-4c53-9d5e-2f8f6a3f0e11")


class StoreError(RuntimeError):
    """A store problem with a message that says what to do; never shown as a traceback."""


class StoreLockedError(StoreError):
    """Another process holds the embedded store."""


class StoreUnavailableError(StoreError):
    """The Qdrant server cannot be reached."""


class CollectionNotFoundError(StoreError):
    """The collection does not exist yet (nothing ingested)."""


class FingerprintMismatchError(StoreError):
    """The collection was made by another embedder configuration."""


def default_data_dir() -> Path:
    """`$ECHO_SEARCH_DATA`, else `$XDG_DATA_HOME/echo-search`, else ~/.local/share/echo-search."""
    if env := os.environ.get("ECHO_SEARCH_DATA"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "echo-search"


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value else None


def _next_generation(current: int) -> int:
    """A new generation: the clock in nanoseconds, and always above `current`.

    Not `current + 1`: two writers that read the same value would write the same next one, and a slow writer
    could set a value that a reader already saw again. Clock values never repeat that way."""
    return max(time.time_ns(), current + 1)


def point_id(source: str, chunk_index: int, content_hash: str) -> str:
    """Deterministic point id: the same chunk of the same file content always gets the same id."""
    return str(uuid.uuid5(_ID_NAMESPACE, f"{source}\0{chunk_index}\0{content_hash}"))


@dataclass
class CollectionInfo:
    name: str
    location: str
    points: int
    fingerprint: str | None
    embedder: dict[str, Any]


@dataclass
class Store:
    """A Qdrant client bound to one collection."""

    client: QdrantClient
    collection: str
    location: str

    @classmethod
    def open(
        cls,
        url: str | None = None,
        api_key: str | None = None,
        path: str | os.PathLike[str] | None = None,
        collection: str | None = None,
        data_dir: str | os.PathLike[str] | None = None,
    ) -> Store:
        """Connect to a server (`url`, `$QDRANT_URL`) or open the embedded store: the Qdrant folder `path`, else
        `qdrant/` under the data folder `data_dir` (default `default_data_dir()`)."""
        url = url or os.environ.get("QDRANT_URL") or None
        api_key = api_key or os.environ.get("QDRANT_API_KEY") or None
        collection = collection or os.environ.get("ECHO_SEARCH_COLLECTION") or DEFAULT_COLLECTION
        if url:
            client = QdrantClient(url=url, api_key=api_key)
            try:
                client.get_collections()
            except Exception as exc:  # qdrant raises several transport errors
                raise StoreUnavailableError(
                    f"cannot reach the Qdrant server at {url}: {exc}. Is it running, and is QDRANT_API_KEY right?"
                ) from exc
            return cls(client=client, collection=collection, location=url)
        folder = Path(path).expanduser() if path else Path(data_dir or default_data_dir()).expanduser() / "qdrant"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            client = QdrantClient(path=str(folder))
        except RuntimeError as exc:
            if "already accessed" not in str(exc):
                raise
            raise StoreLockedError(
                f"the embedded store at {folder} is in use by another process (the embedded store allows one at a "
                "time). Stop that process (an `ingest --watch`, `search serve` or the UI), or run a Qdrant server "
                "and point both at it with --qdrant-url / QDRANT_URL."
            ) from exc
        return cls(client=client, collection=collection, location=str(folder))

    def close(self) -> None:
        self.client.close()

    def exists(self) -> bool:
        return bool(self.client.collection_exists(self.collection))

    def ensure_collection(self, fingerprint: str, embedder: dict[str, Any], dim: int) -> None:
        """Create the collection for this embedder, or check that an existing one was made by the same one.

        Vectors are stored with dot-product distance: the embedder's rows are L2-normalised, so the scores are
        cosine similarities, and local mode skips re-normalising every stored vector on each query (~50 ms at 10k).

        On a server, `$ECHO_SEARCH_SHARDS` and `$ECHO_SEARCH_REPLICAS` set the shard number and replication factor
        of a new collection. Several workers may race to create it: the losers check the winner's fingerprint.
        """
        if self.exists():
            self.check_fingerprint(fingerprint)
            return
        try:
            self.client.create_collection(
                self.collection,
                vectors_config={
                    name: models.VectorParams(size=dim, distance=models.Distance.DOT) for name in VECTOR_NAMES
                },
                shard_number=_env_int("ECHO_SEARCH_SHARDS"),
                replication_factor=_env_int("ECHO_SEARCH_REPLICAS"),
                metadata={"fingerprint": fingerprint, "embedder": embedder, GENERATION: _next_generation(0)},
            )
        except (UnexpectedResponse, ValueError):
            if not self.exists():
                raise
            self.check_fingerprint(fingerprint)
            return
        if "://" in self.location:  # a server; payload indexes have no effect in local mode (and it warns)
            self.client.create_payload_index(self.collection, SOURCE, models.PayloadSchemaType.KEYWORD)

    def fingerprint(self) -> str | None:
        meta = self.client.get_collection(self.collection).config.metadata or {}
        value = meta.get("fingerprint")
        return str(value) if value is not None else None

    def check_fingerprint(self, fingerprint: str) -> None:
        """Refuse, with both fingerprints named, when the collection was made by another embedder."""
        if not self.exists():
            raise CollectionNotFoundError(
                f"collection {self.collection!r} does not exist in {self.location}: run `ingest PATH` first"
            )
        stored = self.fingerprint()
        if stored != fingerprint:
            raise FingerprintMismatchError(
                f"collection {self.collection!r} was built by embedder {stored!r}, but this one is {fingerprint!r}. "
                "Use the same model and templates, or choose another collection "
                "with --collection / ECHO_SEARCH_COLLECTION."
            )

    def generation(self) -> int:
        """The collection's write generation: it changes on every `upsert`, `delete` and `set_payload` through any
        `Store` in any process, so equal generations mean equal contents. 0 when the collection does not exist.

        One metadata read: a dictionary lookup in local mode, one small GET from a server."""
        try:
            meta = self.client.get_collection(self.collection).config.metadata or {}
        except (UnexpectedResponse, ValueError):  # server: 404; local mode: ValueError("... not found")
            if self.exists():
                raise
            return 0
        return int(meta.get(GENERATION) or 0)

    def upsert(self, points: Sequence[models.PointStruct]) -> None:
        """Write `points` (waiting until they are searchable), then bump the generation."""
        self.client.upsert(self.collection, points=list(points), wait=True)
        self._bump()

    def delete(self, selector: models.Filter) -> None:
        """Delete the points matching `selector` (waiting until done), then bump the generation."""
        self.client.delete(self.collection, points_selector=models.FilterSelector(filter=selector), wait=True)
        self._bump()

    def set_payload(self, payload: dict[str, Any], points: Sequence[models.ExtendedPointId]) -> None:
        """Set payload fields of `points` (waiting until done), then bump the generation."""
        self.client.set_payload(self.collection, payload=payload, points=list(points), wait=True)
        self._bump()

    def _bump(self) -> None:
        """After the write, never before: a reader that sees the new generation must also see the write.

        Sends the whole metadata (fingerprint and embedder too), so that it is right whether the server merges
        metadata updates (local mode does) or replaces the metadata."""
        meta = dict(self.client.get_collection(self.collection).config.metadata or {})
        meta[GENERATION] = _next_generation(int(meta.get(GENERATION) or 0))
        self.client.update_collection(self.collection, metadata=meta)

    def info(self) -> CollectionInfo:
        if not self.exists():
            return CollectionInfo(self.collection, self.location, 0, None, {})
        meta = self.client.get_collection(self.collection).config.metadata or {}
        points = self.client.count(self.collection, exact=True).count
        return CollectionInfo(
            self.collection, self.location, points, meta.get("fingerprint"), dict(meta.get("embedder") or {})
        )
