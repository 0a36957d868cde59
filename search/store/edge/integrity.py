"""Cheap checks of an embedded collection's files, made every time it is opened: each file the engine maps must be
as large as the counts recorded beside it say (a truncated vector or payload file opens without a complaint and
fails, or is written into further, only later). Nothing is read but a few small files and the sizes of the rest.

The layouts are qdrant-edge-py 0.9's: a segment's dense vectors are a chunked memory map while it takes writes
(`vectors/config.json`, `status.dat` holding the count, `chunk_<i>.mmap`) and one `matrix.dat` once indexed (its
count in `id_tracker.versions`, 8 bytes a point), with int8 copies in `quantized.data`; payloads, BM25 vectors and
payload indexes are page files of a fixed size (`config.json`'s `page_size_bytes`). A file of another layout is not
checked here (the full check, `Collection.check`, reads every point).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

_FLOAT = 4
_MATRIX_HEADER = 4
_VERSION_BYTES = 8


def shard_problem(shard_dir: Path) -> str | None:
    """What is wrong with the files of the shard at `shard_dir`, or None when their sizes agree with their counts."""
    for segment in sorted((shard_dir / "segments").glob("*/")):
        if problem := _segment_problem(segment):
            return f"segment {segment.name}: {problem}"
    return None


def _segment_problem(segment: Path) -> str | None:
    config = _json(segment / "segment.json")
    if config is None:
        return None  # the engine refuses a segment without it when it opens the shard
    vectors: dict[str, Any] = config.get("config", {}).get("vector_data", {})
    versions = segment / "id_tracker.versions"
    points = versions.stat().st_size // _VERSION_BYTES if versions.is_file() else None
    for name, params in vectors.items():
        if problem := _vectors_problem(segment / f"vector_storage-{name}", int(params.get("size", 0)), points):
            return f"its {name} vectors: {problem}"
    for pages in sorted(p.parent for p in segment.rglob("config.json")):
        if problem := _pages_problem(pages):
            return f"{pages.relative_to(segment)}: {problem}"
    return None


def _vectors_problem(storage: Path, dim: int, points: int | None) -> str | None:
    chunked = _json(storage / "vectors" / "config.json")
    if chunked is not None:
        count = _count(storage / "vectors" / "status.dat")
        if count is None:
            return "vectors/status.dat cannot be read"
        per_chunk = int(chunked["chunk_size_vectors"])
        for i in range(math.ceil(count / per_chunk)):
            need = min(per_chunk, count - i * per_chunk) * int(chunked["dim"]) * _FLOAT
            if problem := _short(storage / "vectors" / f"chunk_{i}.mmap", need, f"{count} vectors"):
                return problem
        return None
    if (storage / "matrix.dat").exists() or points is not None:
        if points is not None and (problem := _short(storage / "matrix.dat", _MATRIX_HEADER + points * dim * _FLOAT,
                                                     f"{points} points")):
            return problem
        quantized = _json(storage / "quantized.config.json")
        if quantized is not None:
            count = int(quantized.get("vector_parameters", {}).get("count", 0))
            return _short(storage / "quantized.data", count * dim, f"{count} int8 vectors")
    return None


def _pages_problem(folder: Path) -> str | None:
    config = _json(folder / "config.json")
    if config is None or "page_size_bytes" not in config:
        return None
    size = int(config["page_size_bytes"])
    for page in sorted(folder.glob("page_*.dat")):
        if page.stat().st_size != size:
            return f"{page.name} is {page.stat().st_size} bytes, not the {size} of every page"
    return None


def _short(path: Path, need: int, of: str) -> str | None:
    if not path.is_file():
        return f"{path.name} is missing ({of} recorded)"
    if (size := path.stat().st_size) < need:
        return f"{path.name} is {size} bytes, too short for the {of} recorded ({need} bytes)"
    return None


def _count(path: Path) -> int | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return int.from_bytes(data[:8], "little") if len(data) >= 8 else None


def _json(path: Path) -> dict[str, Any] | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None
