"""Back up and restore a collection of the embedded store (`search backup`, `search restore`).

A backup is a plain folder: the collection's `collection.json`, its `shard/` as the engine wrote it, and
`echo-search-backup.json` (what it holds). It is taken while this process holds the store's lock with the shard
flushed and closed, so no write can tear it, and copied sparsely (the engine's preallocated files stay small).
Qdrant's engine cannot write snapshots in-process, so this is a file copy; a restore is checked (the copy opens and
holds the points the backup says) before it replaces anything, and a collection it replaces is moved aside, never
deleted.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from search.store.edge.collection import EdgeCollection
from search.store.edge.folder import lock_folder, write_json
from search.store.edge.layout import FORMAT, MARKER, old_format_message
from search.store.edge.space import allocate_holes, free_bytes, is_no_space
from search.store.errors import OldFormatError, StoreDamagedError, StoreError
from search.validation import check_collection_name

BACKUP_MARKER = "echo-search-backup.json"
_BLOCK = 1 << 20


def _sparse_copy(src: Path, dst: Path) -> None:
    """Copy a file, skipping all-zero blocks (the engine's preallocated, unwritten regions stay holes)."""
    with src.open("rb") as fin, dst.open("wb") as fout:
        while block := fin.read(_BLOCK):
            if block.count(0) == len(block):
                fout.seek(len(block), os.SEEK_CUR)
            else:
                fout.write(block)
        fout.truncate()
        fout.flush()
        os.fsync(fout.fileno())
    shutil.copystat(src, dst)


def _copy_tree(src: Path, dst: Path) -> None:
    shutil.copytree(src, dst, copy_function=lambda s, d: _sparse_copy(Path(s), Path(d)))


def _used_bytes(folder: Path) -> int:
    return sum(p.stat().st_blocks * 512 for p in folder.rglob("*") if p.is_file())


def backup(store: EdgeCollection, dest: Path) -> dict[str, Any]:
    """Copy the collection of the open `store` into the new folder `dest`; returns what the backup holds."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise StoreError(f"{dest} already exists and is not an empty folder: choose a new one for the backup")
    if not store.exists():
        raise StoreError(f"collection {store.name!r} does not exist in {store.location}: nothing to back up")
    dest.parent.mkdir(parents=True, exist_ok=True)
    if free_bytes(dest.parent) < _used_bytes(store._dir) + (64 << 20):
        raise StoreError(f"not enough free space at {dest.parent} for a backup of {store._dir}")
    points = store.count()
    about = {"collection": store.name, "points": points, "fingerprint": store.fingerprint(),
             "embedder": store.metadata().get("embedder", {}), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    shard = store.shard
    shard.flush()
    shard.close()  # no writer can run meanwhile: this process holds the store's lock
    store._shard = None
    try:
        _copy_tree(store._dir, tmp)
        write_json(tmp / BACKUP_MARKER, about)
        if dest.exists():
            dest.rmdir()
        os.replace(tmp, dest)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        raise StoreError(f"the backup to {dest} failed: {exc}" + (" (disk full)" if is_no_space(exc) else "")) \
            from exc
    finally:
        store._shard = store._load(store._shard_dir)
    return about


def read_backup(source: Path) -> dict[str, Any]:
    """What the backup folder `source` holds; `StoreDamagedError` when it is not a complete backup."""
    try:
        about = json.loads((source / BACKUP_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StoreDamagedError(f"{source} is not a backup made by `search backup` ({exc})") from None
    if not ((source / "collection.json").is_file() and (source / "shard").is_dir() and isinstance(about, dict)):
        raise StoreDamagedError(f"the backup at {source} is incomplete: collection.json or shard/ is missing")
    return about


def _verified(folder: Path, staging: Path, source: Path, about: dict[str, Any]) -> int:
    """The points of the restored copy at `staging` once it passes what opening a collection checks and what `search
    info --check` checks (every point read back) and holds the points the backup says; else `StoreDamagedError`."""
    try:
        copy = EdgeCollection(folder, staging.name, lock=None)
        try:
            if not copy.exists():
                raise StoreDamagedError(f"the backup at {source} has no collection in it")
            points = copy.check()
        finally:
            copy.close()
    except StoreDamagedError as exc:
        raise StoreDamagedError(f"the backup at {source} is damaged, and nothing was changed: {exc.reason}") from exc
    if points != about.get("points"):
        raise StoreDamagedError(f"the backup at {source} holds {points} points, not the {about.get('points')} it was "
                                "made with; nothing was changed")
    return points


def _free_name(target: Path, name: str) -> Path:
    """`name` beside `target`, or `name-2`, `name-3`, ... when it is taken."""
    candidate, n = target.with_name(name), 1
    while candidate.exists():
        n += 1
        candidate = target.with_name(f"{name}-{n}")
    return candidate


def restore(folder: Path, source: Path, name: str | None = None, replace: bool = False) -> dict[str, Any]:
    """Restore the backup `source` into the embedded store at `folder` as collection `name` (default: the backed-up
    one's). An existing collection is refused unless `replace`, and then moved aside (the returned `replaced`)."""
    about = read_backup(source)
    name = check_collection_name(name or str(about.get("collection") or ""))
    folder.mkdir(parents=True, exist_ok=True)
    if message := old_format_message(folder):
        raise OldFormatError(message)
    lock = lock_folder(folder)  # the store's lock, without opening the collection: it may be the damaged one replaced
    try:
        if not (folder / MARKER).exists():
            write_json(folder / MARKER, FORMAT)
        target = folder / "collections" / name
        existed = target.exists()
        if existed and not replace:
            raise StoreError(f"collection {name!r} already exists in {folder}: pass --replace to restore over it "
                             "(the current one is kept beside it), or restore as another --collection")
        target.parent.mkdir(parents=True, exist_ok=True)
        if free_bytes(target.parent) < _used_bytes(source) + (64 << 20):
            raise StoreError(f"not enough free space in {folder} to restore {source}")
        staging = target.with_name(f".{name}.restoring")
        shutil.rmtree(staging, ignore_errors=True)
        try:
            _copy_tree(source, staging)
            (staging / BACKUP_MARKER).unlink()
            allocate_holes(staging / "shard")  # as after any write: it must open on a full disk too
            points = _verified(folder, staging, source, about)
            replaced = None
            if target.exists():
                replaced = _free_name(target, f"{name}.replaced-{time.strftime('%Y%m%dT%H%M%S')}")
                os.replace(target, replaced)
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)  # gone once swapped; what is left of a refused one
        return {**about, "collection": name, "restored_points": points, "replaced": str(replaced) if replaced else None}
    finally:
        lock.close()
