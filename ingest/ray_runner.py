"""`ingest_paths_ray`: the ingest run on Ray Data, for a corpus past one machine (`ingest --ray ADDRESS`).

The driver (this process) does what only it can: walk the paths, read what the collection holds, delete vanished
files (`ingest.pipeline.plan_run`, as the local runner), and own the store and the report. The rest is one Ray Data
pipeline over the files to embed, smallest first:

1. `flat_map` as Ray tasks (one CPU each): `ingest.stages.file_messages` parses and chunks one file; its messages
   become rows, one row per chunk record.
2. `map_batches` over an actor pool (`EmbedActor`, one GPU each where the cluster has GPUs): each actor loads the
   model once and embeds the chunk rows of its batch (`ingest.stages.embed_records`, which batches by tokens as the
   embedder does); the other messages pass through. Ray retries the batch of an actor that dies.
3. The rows stream back to the driver, which applies them with `ingest.stages.StoreWriter`: points are upserted as
   they come, and a file is completed once its `FileFinished` and all of its chunks have arrived (rows arrive in
   any order). The store therefore sees the same writes as in a local run: same point ids, payloads and vectors.

Ray is imported only here, and this module only when `--ray` is given: the plain `ingest` stays as light as it was.
"""

from __future__ import annotations

import logging
import pickle
import re
import threading
import time
from collections.abc import Callable, Generator, Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ingest.budget import smallest_first
from ingest.ledger import Ledger
from ingest.offline import setup_offline
from ingest.pipeline import finish_run, plan_run
from ingest.report import FileResult, IngestProgress
from ingest.stages import ChunkBatch, Chunking, FileFinished, FileStarted, StoreWriter, embed_records, file_messages
from ingest.state import StoredFile
from search.errors import InvalidInputError
from search.store import ChunkPoint, ChunkRecord, Collection

if TYPE_CHECKING:
    import numpy as np

    from embedder import Embedder
    from ingest.options import IngestOptions
    from ingest.report import IngestReport

MAX_FILE_BLOCKS = 1000
"""The files are split into this many Ray blocks at most (one per file below it): a parse task per block."""
LOCAL = "local"
"""`--ray local`: start a Ray of this machine for the run (and stop it after)."""
AUTO = "auto"
"""`--ray auto`: join the cluster this machine is part of (`ray start`)."""
ADDRESS_FORMS = (f"{LOCAL!r} (a Ray of this machine), {AUTO!r} (the cluster this machine joined with `ray start`), "
                 "HOST:PORT (a cluster's head, e.g. 10.0.0.5:6379) or ray://HOST:PORT (Ray Client, e.g. "
                 "ray://head:10001)")
_ADDRESS = re.compile(r"(?:ray://)?(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})")


def check_address(address: str) -> str:
    """`address` when it is one of the forms `ingest --ray` takes (`ADDRESS_FORMS`), else `InvalidInputError` (a
    usage error) listing them; checked before Ray is imported or anything is opened."""
    if address in (LOCAL, AUTO) or ((found := _ADDRESS.fullmatch(address)) and 0 < int(found[1]) < 65536):
        return address
    hint = f" ({address} looks like an option: the address comes right after --ray, e.g. `--ray {LOCAL} " \
           f"{address}`)" if address.startswith("-") else ""
    raise InvalidInputError(f"--ray: {address!r} is not a Ray address; give {ADDRESS_FORMS}{hint}")


def ingest_paths_ray(
    options: IngestOptions,
    store: Collection,
    embedder: Embedder,
    load_options: dict[str, Any],
    *,
    address: str = LOCAL,
    actors: int | None = None,
    progress: Callable[[IngestProgress], None] | None = None,
    stop: threading.Event | None = None,
) -> IngestReport:
    """`ingest.pipeline.ingest_paths` on a Ray cluster: `address` is one of `ADDRESS_FORMS` (`check_address`).
    `embedder` (on the driver) gives the fingerprint and the tokenizer of the chunker; each actor loads its own with
    `Embedder.from_pretrained(**load_options)`. `actors`: size of the embedding pool (default: one per GPU of the
    cluster, else one). Same report, same collection, same errors as a local run."""
    start = time.perf_counter()
    plan = plan_run(options, store, embedder)
    run_progress = IngestProgress(files_total=len(plan.found.files))
    with ray_session(address) as ray:
        files = [{"source": s, "path": str(p), "stored": pickle.dumps(plan.state.get(s))}
                 for s, p in smallest_first(plan.found.files)]
        if files:
            driver = _Driver(Ledger(StoreWriter(store, plan.report, run_progress)), progress, plan.batch_size)
            with closing(_pipeline(ray, files, plan.chunking, load_options, plan.batch_size, actors)) as batches:
                driver.consume(batches, stop or threading.Event())  # closing ends the Dataset of an interrupted run
    return finish_run(store, plan.report, run_progress, progress, start)


@contextmanager
def ray_session(address: str) -> Iterator[Any]:
    """The `ray` module, connected to `address` (see `ingest_paths_ray`); a session this started is shut down
    after. Already connected (a test, a notebook): used as it is."""
    try:
        import ray
    except ImportError:
        raise InvalidInputError('--ray needs Ray: pip install "echo-search[ray]"') from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=None if address == LOCAL else address, include_dashboard=address != LOCAL,
                 logging_level=logging.WARNING, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False  # the report and `ingest`'s own bar say it
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


def _pipeline(ray: Any, files: list[dict[str, Any]], chunking: Chunking, load_options: dict[str, Any],
              batch_size: int, actors: int | None) -> Generator[dict[str, np.ndarray], None, None]:
    """Row batches of pickled messages and points, as they come out of the cluster."""
    gpus = int(ray.cluster_resources().get("GPU", 0))
    ds = ray.data.from_items(files, override_num_blocks=min(len(files), MAX_FILE_BLOCKS))
    ds = ds.flat_map(parse_rows, fn_kwargs={"chunking": chunking})
    pool = ray.data.ActorPoolStrategy(size=actors or max(1, gpus))
    ds = ds.map_batches(EmbedActor, fn_constructor_kwargs={"load_options": load_options}, batch_size=batch_size,
                        compute=pool, num_gpus=1 if gpus else 0, batch_format="numpy")
    return iter(ds.iter_batches(batch_size=None, batch_format="numpy"))  # a generator: closing it ends the run


def parse_rows(row: dict[str, Any], chunking: Chunking) -> list[dict[str, bytes]]:
    """The rows of one file (a Ray task): its `file_messages`, a chunk batch split into one row per record."""
    setup_offline()  # once per worker process
    stored: StoredFile | None = pickle.loads(row["stored"])
    rows = []
    for message in file_messages(row["source"], Path(row["path"]), stored, chunking):
        items = message.records if isinstance(message, ChunkBatch) else (message,)
        rows += [{"blob": pickle.dumps(item)} for item in items]
    return rows


class EmbedActor:
    """An actor of the embedding pool: loads the model once, then embeds the chunk records of each batch of rows
    (other rows pass through)."""

    def __init__(self, load_options: dict[str, Any]) -> None:
        from embedder import Embedder, tune_process

        tune_process(load_options.get("device"))
        self.embedder = Embedder.from_pretrained(**load_options)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, list[bytes]]:
        items = [pickle.loads(blob) for blob in batch["blob"]]
        records = [item for item in items if isinstance(item, ChunkRecord)]
        points = iter(embed_records(self.embedder, records) if records else [])
        out = [next(points) if isinstance(item, ChunkRecord) else item for item in items]
        return {"blob": [pickle.dumps(item) for item in out]}


class _Driver:
    """Applies the rows coming back from the cluster to the store through the `Ledger` the local runner uses too, in
    an order that keeps every file crash-safe: a file is completed only once all of its chunks are stored (rows
    arrive in any order)."""

    def __init__(self, ledger: Ledger, progress: Callable[[IngestProgress], None] | None, batch_size: int) -> None:
        self.ledger, self.progress_cb, self.batch_size = ledger, progress, batch_size

    def consume(self, batches: Iterator[dict[str, np.ndarray]], stop: threading.Event) -> None:
        """Apply every batch; stop after the batch in flight once `stop` is set (the report says interrupted)."""
        for batch in batches:
            self._apply([pickle.loads(blob) for blob in batch["blob"]])
            if self.progress_cb is not None:
                self.progress_cb(self.ledger.progress)
            if stop.is_set():
                self.ledger.writer.report.interrupted = True
                return

    def _apply(self, items: list[Any]) -> None:
        points = [item for item in items if isinstance(item, ChunkPoint)]
        for start in range(0, len(points), self.batch_size):
            self.ledger.upsert(points[start:start + self.batch_size])
        for item in items:
            if isinstance(item, (FileStarted, FileFinished, FileResult)):
                self.ledger.take(item)
        self.ledger.complete_ready()
