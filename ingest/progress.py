"""A rich progress bar for `ingest` on a terminal: files, chunks, chunks/s and ETA (by bytes still to embed)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ingest.report import IngestProgress


@contextmanager
def progress_display(enabled: bool) -> Iterator[Callable[[IngestProgress], None] | None]:
    """Yield a progress callback drawing on stderr, or None when disabled (not a terminal, --json)."""
    if not enabled:
        yield None
        return
    start = time.perf_counter()
    columns = (
        TextColumn("{task.fields[files]}"), BarColumn(), TextColumn("{task.fields[chunks]}"),
        TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=sys.stderr), transient=True) as bar:
        task = bar.add_task("ingest", total=None, files="files 0/?", chunks="")

        def update(p: IngestProgress) -> None:
            rate = p.chunks_done / max(time.perf_counter() - start, 1e-9)
            bar.update(
                task, total=max(p.bytes_total, 1), completed=p.bytes_done,
                files=f"files {p.files_done}/{p.files_total}",
                chunks=f"{p.chunks_done} chunks, {rate:.1f}/s",
            )

        yield update
