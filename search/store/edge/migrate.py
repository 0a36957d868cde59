"""Upgrades: move a folder written by qdrant-client's local mode (echo-search before Qdrant's engine) into the
embedded engine, losing nothing.

`migrate_folder` copies every collection (vectors, payloads, fingerprint) into a new folder beside the old one,
builds the index, then swaps: the old folder is kept, renamed `<folder>.local-mode-backup`, until the user deletes
it. A migration killed half-way leaves the old folder as it was; running it again starts over.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from search.store.edge.layout import is_old_format
from search.store.errors import StoreError

BACKUP_SUFFIX = ".local-mode-backup"


Progress = Callable[[str, int, int], None]
"""Called with (collection, points copied, points in it) as a migration goes."""


def migrate_folder(folder: Path, progress: Progress | None = None, page: int = 1024) -> dict[str, int]:
    """Migrate the old-format embedded store at `folder` in place; returns {collection: points}. Raises
    `StoreError` when `folder` is not in the old format or a copy does not match the original's point count."""
    from qdrant_client import QdrantClient

    from search.store.edge.collection import EdgeCollection
    from search.store.schema import ChunkPoint, ChunkRecord

    if not is_old_format(folder):
        raise StoreError(f"{folder} is not an old-format (qdrant-client local mode) store: nothing to migrate")
    staging = folder.with_name(folder.name + ".migrating")
    backup = folder.with_name(folder.name + BACKUP_SUFFIX)
    if backup.exists():
        raise StoreError(f"{backup} already exists: move it away first, then run `search migrate` again")
    shutil.rmtree(staging, ignore_errors=True)
    old = QdrantClient(path=str(folder))
    copied: dict[str, int] = {}
    try:
        for description in old.get_collections().collections:
            name = description.name
            info = old.get_collection(name)
            meta = info.config.metadata or {}
            vectors = info.config.params.vectors
            params = next(iter(vectors.values())) if isinstance(vectors, dict) else vectors
            if params is None:
                raise StoreError(f"collection {name!r} in {folder} has no vectors: nothing to migrate")
            dim = params.size
            total = old.count(name, exact=True).count
            new = EdgeCollection.open_folder(staging, name)
            try:
                new.ensure(str(meta.get("fingerprint") or ""), dict(meta.get("embedder") or {}), int(dim))
                offset, done = None, 0
                while True:
                    points, offset = old.scroll(name, limit=page, offset=offset, with_payload=True, with_vectors=True)
                    new.upsert([ChunkPoint(str(p.id), dict(p.vector),  # type: ignore[arg-type]
                                           ChunkRecord.from_dict(p.payload or {})) for p in points])
                    done += len(points)
                    if progress:
                        progress(name, done, total)
                    if offset is None:
                        break
                new.optimize()
                if new.count() != total:
                    raise StoreError(f"migrating {name!r}: copied {new.count()} points of {total}; nothing changed")
                copied[name] = total
            finally:
                new.close()
    finally:
        old.close()
    folder.rename(backup)
    staging.rename(folder)
    return copied
