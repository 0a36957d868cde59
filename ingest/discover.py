"""Walking the paths given to `ingest`: supported files under folders, safely (symlink loops, unreadable dirs)."""

from __future__ import annotations

import errno
import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

from ingest.parse import SUFFIXES


@dataclass(frozen=True)
class Shard:
    """Worker `index` of `count` (0-based): handles the sources whose stable hash falls in its share."""

    index: int
    count: int

    @classmethod
    def parse(cls, spec: str) -> Shard:
        """'i/N' with 0 <= i < N."""
        try:
            i, n = (int(part) for part in spec.split("/"))
        except ValueError:
            raise ValueError(f"--shard must look like i/N (e.g. 0/4), got {spec!r}") from None
        if not 0 <= i < n:
            raise ValueError(f"--shard i/N needs 0 <= i < N, got {spec!r}")
        return cls(i, n)

    def owns(self, source: str) -> bool:
        digest = hashlib.sha1(source.encode("utf-8", "surrogateescape")).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index


@dataclass
class Discovery:
    """What a walk found: files to ingest by source key, the roots it covered, and problems met on the way."""

    files: dict[str, Path] = field(default_factory=dict)
    roots: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)
    ignored: int = 0

    def covers(self, source: str) -> bool:
        """Whether `source` lies under one of the walked roots (so its absence means it was removed)."""
        return any(source == root or source.startswith(root.rstrip(os.sep) + os.sep) for root in self.roots)


def source_key(path: Path) -> str:
    """The SOURCE payload of a file: its absolute, normalised path (symlinks inside folders are kept as named)."""
    return os.path.abspath(path)


def printable(source: str) -> str:
    """`source` as it can be printed and stored: bytes of a file name that are not UTF-8 (which Python keeps as
    lone surrogates) shown as `\\xff` escapes."""
    return source.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _name_problem(source: str) -> str | None:
    """Why `source` cannot be a SOURCE payload (stored as UTF-8 text), or None."""
    try:
        source.encode("utf-8")
    except UnicodeEncodeError:
        return "the file name is not valid UTF-8 (rename the file)"
    return None


def discover(paths: list[Path], shard: Shard | None = None) -> Discovery:
    """Supported files under `paths` (files are taken as given), hidden entries skipped, each folder visited once.

    Raises FileNotFoundError for a path that does not exist (a usage error).
    """
    found = Discovery()
    for path in paths:
        if not path.exists() and not path.is_symlink():
            raise FileNotFoundError(f"no such file or folder: {path}")
        root = source_key(path)
        found.roots.append(root)
        if path.is_dir():
            _walk(path, found)
        elif problem := _link_problem(path) or _name_problem(root):
            found.problems[printable(root)] = problem
        else:
            found.files[root] = path
    if shard is not None:
        found.files = {s: p for s, p in found.files.items() if shard.owns(s)}
        found.problems = {s: r for s, r in found.problems.items() if shard.owns(s)}
    return found


def _walk(root: Path, found: Discovery) -> None:
    seen: set[tuple[int, int]] = set()

    def on_error(exc: OSError) -> None:
        found.problems[printable(source_key(Path(exc.filename or root)))] = f"cannot read folder: {exc.strerror or exc}"

    for folder, dirs, files in os.walk(root, followlinks=True, onerror=on_error):
        try:
            st = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:  # a symlink loop or a second link to a folder already walked
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith("."):
                continue
            path = Path(folder) / name
            if path.suffix.lower() not in SUFFIXES:
                found.ignored += 1
                continue
            if problem := _link_problem(path) or _name_problem(source_key(path)):
                found.problems[printable(source_key(path))] = problem
                continue
            if not path.is_file():  # a FIFO or device would block or never end
                found.problems[printable(source_key(path))] = "not a regular file"
                continue
            found.files[source_key(path)] = path


def _link_problem(path: Path) -> str | None:
    """Why `path` cannot be followed to a file ("symlink loop", "broken symbolic link", ...), or None."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symlink loop"
        if exc.errno == errno.ENOENT:
            return "broken symbolic link"
        return f"cannot read: {exc.strerror or exc}"
    return None
