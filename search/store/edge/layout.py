"""The embedded store's folder format: the marker that says a folder is ours, and how to recognise the older
folder format (qdrant-client's local mode) that `search migrate` upgrades. Known here, once, by the embedded
store (`search.store.edge.collection`), the migration and the backups alike.
"""

from __future__ import annotations

from pathlib import Path

FORMAT = {"format": "echo-search/qdrant-edge", "version": 1}
MARKER = "echo-search-store.json"


def is_old_format(folder: Path) -> bool:
    """True for a folder written by qdrant-client's local mode: `meta.json` and `collection/`, no engine marker."""
    return (folder / "meta.json").is_file() and (folder / "collection").is_dir() and not (folder / MARKER).exists()


def old_format_message(folder: Path) -> str | None:
    """The refusal for an old-format folder, naming the one command that migrates it; None for any other folder."""
    if not is_old_format(folder):
        return None
    where = f" --data-dir {folder.parent}" if folder.name == "qdrant" else f" --path {folder}"
    return (f"the embedded store at {folder} was written by an earlier echo-search (qdrant-client's local mode). "
            f"Run `search migrate{where}` once to move it to Qdrant's engine; the old folder is kept as a backup.")
