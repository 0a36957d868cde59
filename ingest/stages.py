"""The stages of an ingest run, each usable on its own; a runner composes them (`ingest.pipeline` with threads).

1. `file_messages` (parse and chunk): one file, with what the collection holds of it, becomes typed messages:
   its outcome (`FileResult`: unchanged, failed, removed), or `FileStarted`, its chunks as records in
   `ChunkBatch`es and `FileFinished`. No threads, no store, no model.
2. `embed_records`: chunk records become `ChunkPoint`s (both vectors). No store.
3. `StoreWriter`: applies the messages' consequences to the store, the report and the progress, in the order given:
   a file's completion must be applied after the upsert of its last chunks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.budget import FileBudget
from ingest.chunking import Chunk, Chunker
from ingest.parse import ParseError, parse_file
from ingest.report import FileResult, IngestProgress, IngestReport, Status
from ingest.state import StoredFile
from search.store import CLASSICAL, ECHO, ChunkPoint, ChunkRecord, point_id

if TYPE_CHECKING:  # not imported at run time: the `ingest` command refuses a locked store before torch loads
    from embedder import Embedder
    from search.store import Collection

CHUNKER_VERSION = "v1"
"""Part of every record's `chunker`: a new version re-chunks every file."""


@dataclass(frozen=True, slots=True)
class Chunking:
    """How files become chunks in a run: the chunker and its id (kept in every record), the per-file budget,
    `force` (re-embed unchanged files), and `spill`: the chunks of a file with no chunk budget are handed over this
    many at a time, so a big file streams instead of filling memory."""

    chunker: Chunker
    chunker_id: str
    budget: FileBudget
    force: bool = False
    spill: int = 128


@dataclass(frozen=True, slots=True)
class FileJob:
    """A file to (re)embed, as found before chunking it."""

    source: str
    path: Path
    status: Status
    """"added" (nothing of it is stored) or "updated" (points of it are: the others are deleted at the end)."""
    content_hash: str
    size: int
    done: frozenset[int]
    """Chunk indices of this content already stored (resume after a crash): not handed over again."""


@dataclass(frozen=True, slots=True)
class FileStarted:
    """The file will be embedded: its chunks follow."""

    file: FileJob


@dataclass(frozen=True, slots=True)
class ChunkBatch:
    """Chunks of one file to embed and store, as records (`n_chunks` -1 while the file's count is not known)."""

    records: tuple[ChunkRecord, ...]


@dataclass(frozen=True, slots=True)
class FileFinished:
    """Every chunk of the file was handed over: once they are stored, the file is complete."""

    file: FileJob
    n_chunks: int
    streamed: bool
    """Some chunks were handed over before `n_chunks` was known (their records say -1 until completion)."""


Message = FileResult | FileStarted | ChunkBatch | FileFinished
"""What `file_messages` yields."""


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def file_messages(source: str, path: Path, stored: StoredFile | None, chunking: Chunking) -> Iterator[Message]:
    """The messages of one file: its outcome alone when nothing is to be embedded (unchanged and complete, over the
    budget, unreadable, gone), else `FileStarted`, `ChunkBatch`es of the chunks not stored yet, and `FileFinished`
    (or a "failed" outcome when the file turns out too large or unparseable part-way). `stored` is what the
    collection holds of `source` (`ingest.state`). A file's problem is its outcome, never raised."""
    try:
        size = path.stat().st_size
        content_hash = file_hash(path)
    except FileNotFoundError:
        if stored:
            yield FileResult(source, "removed")
        return
    except OSError as exc:
        yield FileResult(source, "failed", reason=os_reason(exc))
        return
    budget = chunking.budget
    if too_large := budget.size_problem(size):
        yield FileResult(source, "failed", reason=too_large)
        return
    if stored and not chunking.force and stored.complete(content_hash, chunking.chunker_id):
        yield FileResult(source, "unchanged", chunks=len(stored.points))
        return
    done = frozenset() if chunking.force or not stored else frozenset(stored.done(content_hash, chunking.chunker_id))
    file = FileJob(source, path, "updated" if stored else "added", content_hash, size, done)
    yield FileStarted(file)
    buffer: list[Chunk] = []
    n, streamed = 0, False
    try:
        for chunk in chunking.chunker.chunks(parse_file(path)):
            n += 1
            if too_large := budget.chunks_problem(n):
                yield FileResult(source, "failed", reason=too_large)
                return
            if chunk.index not in done:
                buffer.append(chunk)
            if not budget.max_chunks and len(buffer) >= chunking.spill:  # no chunk budget: stream the file
                streamed = True
                yield ChunkBatch(_records(file, buffer, -1, chunking.chunker_id))
                buffer = []
    except FileNotFoundError:
        if stored:
            yield FileResult(source, "removed")
        return
    except (ParseError, OSError) as exc:
        yield FileResult(source, "failed", reason=os_reason(exc) if isinstance(exc, OSError) else str(exc))
        return
    except Exception as exc:  # one file's unforeseen problem (chunking, tokenizing) fails that file, not the run
        yield FileResult(source, "failed", reason=f"cannot chunk: {type(exc).__name__}: {exc}")
        return
    if n == 0:
        yield FileResult(source, "failed", reason="no text found (empty file)")
        return
    if buffer:
        yield ChunkBatch(_records(file, buffer, n, chunking.chunker_id))
    yield FileFinished(file, n, streamed)


def _records(file: FileJob, chunks: list[Chunk], n_chunks: int, chunker_id: str) -> tuple[ChunkRecord, ...]:
    return tuple(
        ChunkRecord(source=file.source, chunk_index=c.index, text=c.text, content_hash=file.content_hash,
                    title=c.title, page=c.page, n_chunks=n_chunks, chunker=chunker_id)
        for c in chunks
    )


def os_reason(exc: OSError) -> str:
    """Why a file cannot be read, in a few words."""
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot read: {exc.strerror or exc}"


def embed_records(embedder: Embedder, records: Sequence[ChunkRecord]) -> list[ChunkPoint]:
    """The points of `records`: each with its deterministic id and both vectors of its text (identical texts are
    embedded once)."""
    texts = list(dict.fromkeys(r.text for r in records))
    vectors = embedder.encode(texts, kind="document")
    row = {text: i for i, text in enumerate(texts)}
    points = []
    for record in records:
        i = row[record.text]
        vector = {ECHO: vectors.echo[i]}
        if vectors.classical is not None:
            vector[CLASSICAL] = vectors.classical[i]
        points.append(ChunkPoint(point_id(record.source, record.chunk_index, record.content_hash), vector, record))
    return points


class StoreWriter:
    """Applies a run's results to the store, the report and the progress. Not thread-safe: a runner calls it from
    one thread, in order (a file's `complete` after the `upsert` of its last chunks)."""

    def __init__(self, store: Collection, report: IngestReport, progress: IngestProgress) -> None:
        self.store, self.report, self.progress = store, report, progress

    def record(self, result: FileResult) -> None:
        """A file's outcome without embedding: report it (and delete the points of a removed file)."""
        if result.status == "removed":
            self.store.delete_source(result.source)
        self.report.files.append(result)
        self.progress.files_done += 1
        self.progress.current = result.source

    def upsert(self, points: list[ChunkPoint]) -> None:
        """Store embedded chunks."""
        self.store.upsert(points)
        self.report.chunks += len(points)
        self.progress.chunks_done += len(points)
        self.progress.current = points[-1].record.source

    def complete(self, finished: FileFinished) -> None:
        """All chunks of the file are stored: drop its old points, mark it complete, report it."""
        file, n = finished.file, finished.n_chunks
        keep = [point_id(file.source, i, file.content_hash) for i in range(n)]
        if file.status == "updated":  # a new file has no other points: skip the delete
            self.store.delete_source(file.source, keep=keep)
        if finished.streamed or file.done:
            self.store.set_chunk_count(keep, n)
        self.report.files.append(FileResult(file.source, file.status, chunks=n))
        self.progress.files_done += 1
        self.progress.bytes_done += file.size
        self.progress.current = file.source
