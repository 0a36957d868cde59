"""Store errors: each carries a message that says what to do, and is shown without a traceback (how each is
reported, as an exit status or an HTTP status, is `search.errors`'s one map)."""

from __future__ import annotations


class StoreError(RuntimeError):
    """A store problem with a message that says what to do; never shown as a traceback."""


class StoreLockedError(StoreError):
    """Another process holds the embedded store."""


class StoreUnavailableError(StoreError):
    """The Qdrant server cannot be reached."""


class StoreAddressError(StoreError):
    """The Qdrant server's URL is malformed: a bad setting, not a server that cannot be reached."""


class CollectionNotFoundError(StoreError):
    """The collection does not exist yet (nothing ingested)."""


class FingerprintMismatchError(StoreError):
    """The collection was made by another embedder configuration."""


class StoreDamagedError(StoreError):
    """The store's files are damaged or disagree with each other (metadata without data, data without metadata, a
    file that cannot be read): refused, never overwritten; the message says where and what to do."""

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message
        """What is wrong, without where or what to do (for a caller that says those itself, as `search restore`)."""


class StoreFullError(StoreError):
    """The disk that holds the embedded store has too little free space for a write; nothing was half-written."""


class OldFormatError(StoreError):
    """The embedded folder was written by qdrant-client's local mode (echo-search before the Qdrant engine)."""


class FilterError(ValueError):
    """A filter the store cannot use: not a valid Qdrant filter, or a condition the store implementation lacks (an
    invalid request, like `search.validation.InvalidRequestError`)."""


class MissingBm25Error(StoreError):
    """A BM25 or hybrid search of a collection without (complete) BM25 vectors: it was made before them. The next
    `ingest` adds them from the stored text."""
