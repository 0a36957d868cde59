"""`ingest_paths`: sync files and folders into a collection, incrementally and crash-safely.

How a run goes:
1. Walk the paths (`ingest.discover`); read what the collection holds (`ingest.state`, records without text).
2. Remove the points of files that disappeared from the walked folders (within this worker's shard).
3. A producer thread hashes each file; an unchanged, complete file is skipped without the model. Other files
   are parsed and chunked (`ingest.parse`, `ingest.chunking`) into a bounded queue, so parsing runs ahead of
   the model. What it hands over are the typed messages of `ingest.stages.file_messages`.
4. The calling thread embeds chunks in batches (`ingest.stages.embed_records`); a writer thread stores them
   (`ingest.stages.StoreWriter`) while the next batch is embedded (store writes run in order, at most two
   behind). Point ids are deterministic (source, chunk index, content hash), so a re-run rewrites the same
   points. When all of a file's chunks are stored, its other points (old content) are deleted. Every point
   records `n_chunks`; a big file streamed before its count was known gets it set at the end, which marks it
   complete. A run killed at any moment (even `kill -9`) therefore leaves each file either complete or visibly
   incomplete, and the next run finishes it, re-embedding only the chunks that are missing.
5. Files are handled smallest first, and a file over the per-file budget (`ingest.budget`) is reported as
   failed ("too large") before any of it is embedded, so one huge file never holds up the others.
6. Setting the `stop` event (the CLI does on Ctrl-C) ends the run after the batch in flight: what was embedded
   is stored, files whose chunks are all stored are completed, and the report says the run was interrupted.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.budget import smallest_first
from ingest.chunking import tokenizer_chunker
from ingest.discover import Discovery, Shard, discover
from ingest.ledger import Ledger
from ingest.options import IngestOptions
from ingest.report import INDEXING, FileResult, IngestProgress, IngestReport
from ingest.stages import (
    CHUNKER_VERSION,
    ChunkBatch,
    Chunking,
    Message,
    StoreWriter,
    embed_records,
    file_messages,
)
from ingest.state import StoredFile, load_state
from search.store import ChunkRecord, Collection

DEFAULT_BATCH_SIZE = 32
"""Chunks per embedding and upsert batch on CPU."""
GPU_BATCH_SIZE = 256
"""On a GPU: 256 chunks of 200 tokens are about 160k computed tokens (echo and classical), a few forwards of the
GPU's token budget, where 32 would leave most forwards part-empty (bench/ingest.py ran with 256 on an H200)."""

if TYPE_CHECKING:  # not imported at run time: the `ingest` command refuses a locked store before torch loads
    from embedder import Embedder


def ingest_paths(
    options: IngestOptions,
    store: Collection,
    embedder: Embedder,
    *,
    progress: Callable[[IngestProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> IngestReport:
    """Sync `options.paths` (files and folders) into `store`'s collection with `embedder`; returns what happened per
    file.

    Creates the collection on first use and refuses one made by another embedder (`FingerprintMismatchError`).
    Unchanged files are skipped (content hash), changed ones replaced, files gone from the walked folders
    removed; `options.force` re-embeds everything. `progress` is called with an `IngestProgress` as work completes.
    With `options.shard`, only that worker's share of the files is handled (and deleted). Raises FileNotFoundError
    for a path that does not exist, `StoreError` subclasses for store problems; a file that cannot be parsed, or is
    over the per-file budget (`options.budget`), is reported as failed, never raised. Setting `stop` ends the run
    early and cleanly (`report.interrupted`); a re-run finishes the rest.
    """
    start = time.perf_counter()
    plan = plan_run(options, store, embedder)
    run = _Run(store, embedder, plan, progress, stop or threading.Event())
    run.execute()
    return finish_run(store, plan.report, run.progress, progress, start)


@dataclass(frozen=True, slots=True)
class RunPlan:
    """What the driver of a run decided before embedding anything: the files found, what the collection holds, the
    report so far (problems of the walk, removed files), how to chunk, and chunks per batch."""

    found: Discovery
    state: dict[str, StoredFile]
    report: IngestReport
    chunking: Chunking
    batch_size: int


def plan_run(options: IngestOptions, store: Collection, embedder: Embedder) -> RunPlan:
    """The first steps of every runner: walk `options.paths`, create or check the collection, read its state and
    delete the points of files gone from the walked folders (within `options.shard`)."""
    chunk_tokens, shard = options.chunk_tokens, options.parsed_shard()
    if not 8 <= chunk_tokens <= embedder.max_text_tokens:
        raise ValueError(f"chunk_tokens must be between 8 and the embedder's {embedder.max_text_tokens}")
    found = discover(options.paths, shard)
    store.ensure(embedder.fingerprint, embedder.describe(), embedder.dim)
    state = load_state(store)
    report = IngestReport(collection=store.name, location=store.location, ignored=found.ignored)
    report.files += [FileResult(source, "failed", reason=reason) for source, reason in found.problems.items()]
    for source in _removed(found, state, shard):
        store.delete_source(source)
        report.files.append(FileResult(source, "removed"))
    batch_size = max(1, options.batch_size or (GPU_BATCH_SIZE if embedder.device.type == "cuda"
                                               else DEFAULT_BATCH_SIZE))
    chunking = Chunking(tokenizer_chunker(embedder.tokenizer, chunk_tokens), f"{CHUNKER_VERSION}/{chunk_tokens}",
                        options.budget, options.force, spill=4 * batch_size)
    return RunPlan(found, state, report, chunking, batch_size)


def finish_run(store: Collection, report: IngestReport, run_progress: IngestProgress,
               progress: Callable[[IngestProgress], None] | None, start: float) -> IngestReport:
    """The last steps of every runner: count unfinished files of an interrupted run, else build the index; sort
    the report and time it."""
    if report.interrupted:
        report.unfinished = run_progress.files_total - run_progress.files_done
    else:
        run_progress.current = INDEXING
        if progress is not None:
            progress(run_progress)
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


@dataclass(frozen=True, slots=True)
class _ProducerFailed:
    """The producer thread raised: the consumer re-raises `error`."""

    error: BaseException


_Item = Message | _ProducerFailed | None
"""What the producer thread queues; None: it is done."""


class _Run:
    """One sync with three threads: a producer parses ahead into a bounded queue (`file_messages`), this thread
    embeds (`embed_records`), a writer thread stores (`StoreWriter`); the bookkeeping is the `Ledger` both runners
    share.

    Everything that touches the store or the report during the run happens on the writer thread, in the order
    it was submitted: a file's completion is submitted after its last chunks, so it runs after their upsert.
    The progress callback is called on this thread (UI toolkits such as Streamlit need their own thread).
    """

    def __init__(self, store: Collection, embedder: Embedder, plan: RunPlan,
                 progress: Callable[[IngestProgress], None] | None, cancel: threading.Event) -> None:
        self.embedder, self.found, self.state, self.chunking = embedder, plan.found, plan.state, plan.chunking
        self.batch_size, self.report, self.cancel = plan.batch_size, plan.report, cancel
        self.queue: queue.Queue[_Item] = queue.Queue(maxsize=16)
        self.stop = threading.Event()
        self.progress_cb = progress
        self.progress = IngestProgress(files_total=len(plan.found.files))
        self.ledger = Ledger(StoreWriter(store, plan.report, self.progress), self._write)
        self.writer_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-store")
        self.writes: deque[Future[None]] = deque()
        self.batch: list[ChunkRecord] = []  # handed over, not embedded yet
        self._notified = (0, 0)

    # -- producer thread --------------------------------------------------------------------------------------
    def _produce(self) -> None:
        try:
            for source, path in smallest_first(self.found.files):
                for message in file_messages(source, path, self.state.get(source), self.chunking):
                    if self.stop.is_set():
                        return
                    self._put(message)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            self._put(_ProducerFailed(exc))
        finally:
            self._put(None)

    def _put(self, item: _Item) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    # -- this thread ------------------------------------------------------------------------------------------
    def execute(self) -> None:
        producer = threading.Thread(target=self._produce, name="ingest-parse", daemon=True)
        producer.start()
        try:
            while not self.cancel.is_set() and (item := self._next()) is not None:
                self._take(item)
                while len(self.batch) >= self.batch_size and not self.cancel.is_set():
                    self._embed(self.batch[: self.batch_size])
                    del self.batch[: self.batch_size]
                self.ledger.complete_ready()
                self._notify()
            if self.cancel.is_set():
                # Outcomes the producer already handed over are reported; chunks not embedded yet stay missing,
                # so their files stay incomplete and the next run finishes them.
                self.report.interrupted = True
                while (item := self._queued()) is not None:
                    self._take(item)
            elif self.batch:
                self._embed(self.batch)
                self.batch.clear()
            self.ledger.complete_ready()
            while self.writes:
                self.writes.popleft().result()
            self._notify()
        finally:
            self.stop.set()
            self.writer_thread.shutdown(wait=True, cancel_futures=True)
            producer.join(timeout=5)

    def _take(self, item: _Item) -> None:
        """Handle one message from the producer (`_ProducerFailed` is raised here)."""
        if isinstance(item, _ProducerFailed):
            raise item.error
        if isinstance(item, ChunkBatch):
            self.batch += item.records
        elif item is not None:
            self.ledger.take(item)

    def _queued(self) -> _Item:
        """The next item already in the queue, without waiting; None when there is none."""
        try:
            return self.queue.get_nowait()
        except queue.Empty:
            return None

    def _next(self) -> _Item:
        """The next item from the producer, or None once the run is cancelled."""
        while True:
            try:
                return self.queue.get(timeout=0.2)
            except queue.Empty:
                if self.cancel.is_set():
                    return None

    def _write(self, fn: Callable[..., None], *args: object) -> None:
        """Queue a store operation for the writer thread; wait while two are already queued; raise its errors."""
        self.writes.append(self.writer_thread.submit(fn, *args))
        while len(self.writes) > 2 or (self.writes and self.writes[0].done()):
            self.writes.popleft().result()

    def _embed(self, records: list[ChunkRecord]) -> None:
        self.ledger.upsert(embed_records(self.embedder, records))

    def _notify(self) -> None:
        """Call the progress callback on this (the caller's) thread when the writer made progress."""
        seen = (self.progress.files_done, self.progress.chunks_done)
        if self.progress_cb is not None and seen != self._notified:
            self._notified = seen
            self.progress_cb(self.progress)
