"""`search backup`, `search restore` and `search migrate`: the embedded store's files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from search.cli.errors import err, user_errors
from search.cli.options import (
    CollectionName,
    DataDir,
    settings_with_flags,
)
from search.settings import Settings


def _embedded_store(collection: str | None, data_dir: Path | None) -> Settings:
    """The settings for a command that works on the embedded store's files only (backup, restore)."""
    settings = settings_with_flags(collection, None, None, data_dir)
    if settings.store.qdrant_url:
        raise typer.BadParameter("backup and restore work on the embedded store; a Qdrant server (QDRANT_URL) makes "
                                 "its own snapshots: see Qdrant's snapshot API")
    return settings


def backup(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.", show_default=False)],
    collection: CollectionName = None,
    data_dir: DataDir = None,
) -> None:
    """Copy the collection of the embedded store into the folder DEST (holding the store: no writer runs meanwhile).

    Restore it with `search restore DEST`. The documents stay the source of truth: `ingest` rebuilds any collection.
    """
    from search.store import embedded_folder
    from search.store.edge.backup import backup as take_backup
    from search.store.edge.collection import EdgeCollection

    where = _embedded_store(collection, data_dir).store
    with user_errors():
        store = EdgeCollection.open_folder(embedded_folder(None, where.data_dir()), where.collection,
                                           min_free_mb=where.min_free_mb)
        try:
            about = take_backup(store, dest)
        finally:
            store.close()
    err.print(f"backed up collection {about['collection']!r} ({about['points']} points) to {dest}", highlight=False)


def restore(
    source: Annotated[Path, typer.Argument(help="A folder written by `search backup`.", show_default=False)],
    collection: CollectionName = None,
    data_dir: DataDir = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace an existing (or damaged) collection of that "
                                                            "name; it is kept beside it, renamed.")] = False,
) -> None:
    """Restore a backup made by `search backup` into the embedded store (as its collection, or --collection).

    The copy is checked (it opens and holds the points the backup says) before anything is replaced.
    """
    from search.store import embedded_folder
    from search.store.edge.backup import restore as restore_backup

    settings = _embedded_store(collection, data_dir)
    with user_errors():
        done = restore_backup(embedded_folder(None, settings.store.data_dir()), source,
                              name=collection or None, replace=replace)
    err.print(f"restored collection {done['collection']!r} ({done['restored_points']} points) from {source}",
              highlight=False)
    if done["replaced"]:
        err.print(f"the collection it replaced is kept at {done['replaced']}", highlight=False)


def migrate(
    data_dir: DataDir = None,
    path: Annotated[Path | None, typer.Option(
        "--path", help="The embedded store folder itself (default: qdrant/ under the data folder).")] = None,
) -> None:
    """Move an embedded store written by an earlier echo-search (qdrant-client's local mode) to Qdrant's engine.

    Every collection is copied with its vectors, payloads and fingerprint, and indexed; the old folder is kept
    beside it as `<folder>.local-mode-backup` until you delete it. Nothing is embedded again.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from search.store import embedded_folder
    from search.store.edge.migrate import BACKUP_SUFFIX, migrate_folder

    folder = embedded_folder(path, settings_with_flags(data_dir=data_dir).store.data_dir())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with user_errors(), Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"collection {name}", total=total)
            bar.update(tasks[name], completed=done)

        copied = migrate_folder(folder, progress)
    for name, points in copied.items():
        err.print(f"migrated collection {name!r}: {points} points")
    err.print(f"{folder} now uses Qdrant's engine; the old folder is {folder}{BACKUP_SUFFIX}")


