"""How `ingest` shows progress on stderr: a rich bar on a terminal (files, chunks, chunks/s, ETA by bytes still to
embed), else one plain line each time files finish (for logs: `docker compose logs`, CI)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from ingest.report import INDEXING, IngestProgress


@contextmanager
def progress_display(style: Literal["bar", "lines"]) -> Iterator[Callable[[IngestProgress], None]]:
    """Yield a progress callback that draws a bar on stderr, or writes a line there whenever files finish."""
    start = time.perf_counter()
    if style == "lines":
        yield _lines(start)
        return
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
                chunks=f"{p.chunks_done} chunks, {rate:.1f}/s"
                + (f", {INDEXING}" if p.current == INDEXING else ""),
            )

        yield update


def _lines(start: float) -> Callable[[IngestProgress], None]:
    last = [-1]

    def update(p: IngestProgress) -> None:
        if p.files_done == last[0] and p.current != INDEXING:
            return
        last[0] = p.files_done
        rate = p.chunks_done / max(time.perf_counter() - start, 1e-9)
        print(f"ingest: files {p.files_done}/{p.files_total}, {p.chunks_done} chunks ({rate:.1f}/s): {p.current}",
              file=sys.stderr, flush=True)

    return update
