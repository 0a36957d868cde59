"""`ingest_paths`: sync files and folders into a collection, incrementally and crash-safely.

How a run goes:
1. Walk the paths (`ingest.discover`); read what the collection holds (`ingest.state`, payloads only).
2. Remove the points of files that disappeared from the walked folders (within this worker's shard).
3. A producer thread hashes each file; an unchanged, complete file is skipped without the model. Other files
   are parsed and chunked (`ingest.parse`, `ingest.chunking`) into a bounded queue, so parsing runs ahead of
   the model.
4. The calling thread embeds chunks in batches; a writer thread upserts them while the next batch is embedded
   (store writes run in order, at most two behind). Point ids are deterministic (source, chunk index,
   content hash), so a re-run rewrites the same points. When all of a file's chunks are stored, its other
   points (old content) are deleted. Every point records `n_chunks`; a big file streamed
   before its count was known gets it set at the end, which marks it complete. A run killed at any moment
   (even `kill -9`) therefore leaves each file either complete or visibly incomplete, and the next run
   finishes it, re-embedding only the chunks that are missing.
5. Files are handled smallest first, and a file over the per-file budget (`ingest.budget`) is reported as
   failed ("too large") before any of it is embedded, so one huge file never holds up the others.
6. Setting the `stop` event (the CLI does on Ctrl-C) ends the run after the batch in flight: what was embedded
   is stored, files whose chunks are all stored are completed, and the report says the run was interrupted.
"""

from __future__ import annotations

import hashlib
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

from ingest.budget import FileBudget, smallest_first
from ingest.chunking import DEFAULT_CHUNK_TOKENS, Chunk, tokenizer_chunker
from ingest.discover import Discovery, Shard, discover
from ingest.parse import ParseError, parse_file
from ingest.report import INDEXING, FileResult, IngestProgress, IngestReport, Status
from ingest.state import StoredFile, load_state
from search.store import CLASSICAL, ECHO, ChunkPoint, ChunkRecord, Collection, point_id

DEFAULT_BATCH_SIZE = 32
"""Chunks per embedding and upsert batch on CPU."""
GPU_BATCH_SIZE = 256
"""On a GPU: 256 chunks of 200 tokens are about 160k computed tokens (echo and classical), a few forwards of the
GPU's token budget, where 32 would leave most forwards part-empty (bench/ingest.py ran with 256 on an H200)."""
_CHUNKER_VERSION = "v1"

if TYPE_CHECKING:  # not imported at run time: the `ingest` command refuses a locked store before torch loads
    from embedder import Embedder


@dataclass
class _File:
    """A file being (re)embedded."""

    source: str
    path: Path
    status: Status  # "added" or "updated"
    content_hash: str
    size: int
    done: set[int]  # chunk indices already stored (resume after a crash)
    n_chunks: int | None = None  # known once the producer finished the file
    provisional: bool = False  # some chunks were stored before n_chunks was known


_END = object()


def ingest_paths(
    paths: Sequence[str | Path],
    store: Collection,
    embedder: Embedder,
    *,
    force: bool = False,
    progress: Callable[[IngestProgress], None] | None = None,
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    batch_size: int | None = None,
    shard: Shard | None = None,
    budget: FileBudget | None = None,
    stop: threading.Event | None = None,
) -> IngestReport:
    """Sync `paths` (files and folders) into `store`'s collection with `embedder`; returns what happened per file.

    Creates the collection on first use and refuses one made by another embedder (`FingerprintMismatchError`).
    Unchanged files are skipped (content hash), changed ones replaced, files gone from the walked folders
    removed; `force` re-embeds everything. `progress` is called with an `IngestProgress` as work completes.
    With `shard`, only that worker's share of the files is handled (and deleted). Raises FileNotFoundError
    for a path that does not exist, `StoreError` subclasses for store problems; a file that cannot be parsed,
    or is over `budget` (default `FileBudget()`), is reported as failed, never raised. Setting `stop` ends the
    run early and cleanly (`report.interrupted`); a re-run finishes the rest.
    """
    start = time.perf_counter()
    if not 8 <= chunk_tokens <= embedder.max_text_tokens:
        raise ValueError(f"chunk_tokens must be between 8 and the embedder's {embedder.max_text_tokens}")
    found = discover([Path(p) for p in paths], shard)
    store.ensure(embedder.fingerprint, embedder.describe(), embedder.dim)
    state = load_state(store)
    report = IngestReport(collection=store.name, location=store.location, ignored=found.ignored)
    report.files += [FileResult(source, "failed", reason=reason) for source, reason in found.problems.items()]
    for source in _removed(found, state, shard):
        store.delete_source(source)
        report.files.append(FileResult(source, "removed"))
    batch_size = batch_size or (GPU_BATCH_SIZE if embedder.device.type == "cuda" else DEFAULT_BATCH_SIZE)
    run = _Run(store, embedder, found, state, force, chunk_tokens, batch_size, progress, report,
               budget or FileBudget(), stop or threading.Event())
    run.execute()
    if report.interrupted:
        report.unfinished = run.progress.files_total - run.progress.files_done
    else:
        run.progress.current = INDEXING
        if progress is not None:
            progress(run.progress)
        t_index = time.perf_counter()
        store.optimize()  # only segments that need it: a small incremental run does not rebuild the index
        report.index_seconds = time.perf_counter() - t_index
    report.files.sort(key=lambda f: f.source)
    report.seconds = time.perf_counter() - start
    return report


def _removed(found: Discovery, state: dict[str, StoredFile], shard: Shard | None) -> list[str]:
    return [
        source for source in state
        if found.covers(source) and source not in found.files and source not in found.problems
        and (shard is None or shard.owns(source))
    ]


def file_hash(path: Path) -> str:
    """sha256 of the file's bytes, read in 1 MiB pieces."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


class _Run:
    """One sync: a producer thread parses ahead into a bounded queue, this thread embeds, a writer thread stores.

    Everything that touches the store or the report during the run happens on the writer thread, in the order
    it was submitted: a file's completion is submitted after its last chunks, so it runs after their upsert.
    The progress callback is called on this thread (UI toolkits such as Streamlit need their own thread).
    """

    def __init__(self, store: Collection, embedder: Embedder, found: Discovery, state: dict[str, StoredFile],
                 force: bool, chunk_tokens: int, batch_size: int,
                 progress: Callable[[IngestProgress], None] | None, report: IngestReport, budget: FileBudget,
                 cancel: threading.Event) -> None:
        self.store, self.embedder, self.found, self.state = store, embedder, found, state
        self.budget, self.cancel = budget, cancel
        self.force, self.batch_size, self.report = force, max(1, batch_size), report
        self.chunker_id = f"{_CHUNKER_VERSION}/{chunk_tokens}"
        self.chunker = tokenizer_chunker(embedder.tokenizer, chunk_tokens)  # used on the producer thread
        self.spill = 4 * self.batch_size
        self.queue: queue.Queue[object] = queue.Queue(maxsize=16)
        self.stop = threading.Event()
        self.progress_cb = progress
        self.progress = IngestProgress(files_total=len(found.files))
        self.writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-store")
        self.writes: deque[Future[None]] = deque()
        self._notified = (0, 0)

    # -- producer ---------------------------------------------------------------------------------------------
    def _produce(self) -> None:
        try:
            for source, path in smallest_first(self.found.files):
                if self.stop.is_set():
                    return
                self._produce_file(source, path)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(exc)
        finally:
            self._put(_END)

    def _produce_file(self, source: str, path: Path) -> None:
        stored = self.state.get(source)
        try:
            size = path.stat().st_size
            content_hash = file_hash(path)
        except FileNotFoundError:
            self._put(FileResult(source, "removed") if stored else None)
            return
        except OSError as exc:
            self._put(FileResult(source, "failed", reason=_os_reason(exc)))
            return
        if too_large := self.budget.size_problem(size):
            self._put(FileResult(source, "failed", reason=too_large))
            return
        if stored and not self.force and stored.complete(content_hash, self.chunker_id):
            self._put(FileResult(source, "unchanged", chunks=len(stored.points)))
            return
        done = set() if self.force or not stored else stored.done(content_hash, self.chunker_id)
        file = _File(source, path, "updated" if stored else "added", content_hash, size, done)
        self.progress.bytes_total += size
        try:
            buffer: list[Chunk] = []
            n = 0
            for chunk in self._chunks(path):
                n += 1
                if too_large := self.budget.chunks_problem(n):
                    self.progress.bytes_total -= size  # it will not be embedded: keep the ETA honest
                    self._put(FileResult(source, "failed", reason=too_large))
                    return
                if chunk.index not in done:
                    buffer.append(chunk)
                if not self.budget.max_chunks and len(buffer) >= self.spill:  # no budget: stream the file
                    file.provisional = True
                    self._put((file, buffer))
                    buffer = []
        except FileNotFoundError:
            self._put(FileResult(source, "removed") if stored else None)
            return
        except (ParseError, OSError) as exc:
            reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
            self._put(FileResult(source, "failed", reason=reason))
            return
        except Exception as exc:  # one file's unforeseen problem (chunking, tokenizing) fails that file, not the run
            self._put(FileResult(source, "failed", reason=f"cannot chunk: {type(exc).__name__}: {exc}"))
            return
        if n == 0:
            self._put(FileResult(source, "failed", reason="no text found (empty file)"))
            return
        file.n_chunks = n
        self._put((file, buffer))
        self._put(file)

    def _chunks(self, path: Path) -> Iterator[Chunk]:
        return self.chunker.chunks(parse_file(path))

    def _put(self, item: object) -> None:
        if item is None:
            return
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    # -- consumer ---------------------------------------------------------------------------------------------
    def execute(self) -> None:
        producer = threading.Thread(target=self._produce, name="ingest-parse", daemon=True)
        producer.start()
        batch: list[tuple[_File, Chunk]] = []
        finished: list[_File] = []  # the producer is done with them; some of their chunks may still be in `batch`
        try:
            while not self.cancel.is_set() and (item := self._next()) is not _END:
                self._take(item, batch, finished)
                while len(batch) >= self.batch_size and not self.cancel.is_set():
                    self._embed(batch[: self.batch_size])
                    del batch[: self.batch_size]
                finished[:] = self._complete_submitted(finished, batch)
                self._notify()
            if self.cancel.is_set():
                # Outcomes the producer already handed over are reported; chunks not embedded yet stay missing,
                # so their files stay incomplete and the next run finishes them.
                self.report.interrupted = True
                while (item := self._queued()) is not _END:
                    self._take(item, batch, finished)
            elif batch:
                self._embed(batch)
                batch.clear()
            self._complete_submitted(finished, batch)
            while self.writes:
                self.writes.popleft().result()
            self._notify()
        finally:
            self.stop.set()
            self.writer.shutdown(wait=True, cancel_futures=True)
            producer.join(timeout=5)

    def _take(self, item: object, batch: list[tuple[_File, Chunk]], finished: list[_File]) -> None:
        """Handle one item from the producer: record an outcome, note a finished file, or add chunks to `batch`."""
        if isinstance(item, BaseException):
            raise item
        if isinstance(item, FileResult):
            self._write(self._record, item)
        elif isinstance(item, _File):
            finished.append(item)
        else:
            file, chunks = cast(tuple[_File, list[Chunk]], item)
            batch += [(file, c) for c in chunks]

    def _queued(self) -> object:
        """The next item already in the queue, without waiting; `_END` when there is none."""
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            return _END

    def _next(self) -> object:
        """The next item from the producer, or `_END` once the run is cancelled."""
        while True:
            try:
                return self.queue.get(timeout=0.2)
            except queue.Empty:
                if self.cancel.is_set():
                    return _END

    def _write(self, fn: Callable[..., None], *args: object) -> None:
        """Queue a store operation for the writer thread; wait while two are already queued; raise its errors."""
        self.writes.append(self.writer.submit(fn, *args))
        while len(self.writes) > 2 or (self.writes and self.writes[0].done()):
            self.writes.popleft().result()

    def _embed(self, items: list[tuple[_File, Chunk]]) -> None:
        texts = list(dict.fromkeys(c.text for _, c in items))  # identical chunks are embedded once
        vectors = self.embedder.encode(texts, kind="document")
        row = {text: i for i, text in enumerate(texts)}
        points = []
        for file, chunk in items:
            i = row[chunk.text]
            vector = {ECHO: vectors.echo[i]}
            if vectors.classical is not None:
                vector[CLASSICAL] = vectors.classical[i]
            record = ChunkRecord(
                source=file.source, chunk_index=chunk.index, text=chunk.text, content_hash=file.content_hash,
                title=chunk.title, page=chunk.page, n_chunks=file.n_chunks if file.n_chunks is not None else -1,
                chunker=self.chunker_id,
            )
            points.append(ChunkPoint(point_id(file.source, chunk.index, file.content_hash), vector, record))
        self._write(self._upsert, points, items[-1][0].source)

    def _complete_submitted(self, finished: list[_File], batch: list[tuple[_File, Chunk]]) -> list[_File]:
        """Queue the completion of finished files none of whose chunks wait in `batch`; return the others."""
        in_batch = {id(file) for file, _ in batch}
        waiting = []
        for file in finished:
            if id(file) in in_batch:
                waiting.append(file)
            else:
                self._write(self._complete, file)
        return waiting

    # -- writer thread ----------------------------------------------------------------------------------------
    def _record(self, result: FileResult) -> None:
        if result.status == "removed":
            self.store.delete_source(result.source)
        self.report.files.append(result)
        self.progress.files_done += 1
        self.progress.current = result.source

    def _upsert(self, points: list[ChunkPoint], current: str) -> None:
        self.store.upsert(points)  # deletes must come after
        self.report.chunks += len(points)
        self.progress.chunks_done += len(points)
        self.progress.current = current

    def _complete(self, file: _File) -> None:
        """All chunks of `file` are stored: drop its old points, mark it complete, report it."""
        n = file.n_chunks or 0
        keep = [point_id(file.source, i, file.content_hash) for i in range(n)]
        if file.source in self.state:  # a new file has no other points: skip the delete
            self.store.delete_source(file.source, keep=keep)
        if file.provisional or file.done:
            self.store.set_chunk_count(keep, n)
        self.report.files.append(FileResult(file.source, file.status, chunks=n))
        self.progress.files_done += 1
        self.progress.bytes_done += file.size
        self.progress.current = file.source

    def _notify(self) -> None:
        """Call the progress callback on this (the caller's) thread when the writer made progress."""
        seen = (self.progress.files_done, self.progress.chunks_done)
        if self.progress_cb is not None and seen != self._notified:
            self._notified = seen
            self.progress_cb(self.progress)


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, PermissionError):
        return "permission denied"
    return f"cannot read: {exc.strerror or exc}"
