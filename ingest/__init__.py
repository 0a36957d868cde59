"""Files and folders -> chunks -> echo and classical vectors -> the Qdrant collection.

The Python API (what the CLI and the UI call)::

    from ingest import IngestOptions, ingest_paths, setup_offline
    from search.store import open_collection
    from embedder import Embedder, tune_process

    setup_offline()  # once per program: unstructured with no telemetry and no spaCy download (else it fetches one)
    tune_process()  # optional: the commands' thread and kernel-cache settings (see `embedder.tune_process`)
    report = ingest_paths(IngestOptions(paths=["./docs"]), open_collection(), Embedder.from_pretrained(),
                          progress=print)
    report.files  # [FileResult(source, status, chunks, reason)], status: added/updated/unchanged/removed/failed

`IngestOptions` holds the `ingest` command's options (`force`, `chunk_tokens`, `batch_size`, `shard`, and
`max_file_mb` / `max_file_chunks`, the per-file limit: a bigger file fails as "too large");
`stop=threading.Event()` ends a run early and cleanly when set (`report.interrupted`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.budget import FileBudget
    from ingest.discover import Shard
    from ingest.offline import setup_offline
    from ingest.options import IngestOptions
    from ingest.pipeline import ingest_paths
    from ingest.report import FileResult, IngestProgress, IngestReport

__all__ = ["FileBudget", "FileResult", "IngestOptions", "IngestProgress", "IngestReport", "Shard", "ingest_paths",
           "setup_offline"]

_HOMES = {"FileBudget": "budget", "Shard": "discover", "ingest_paths": "pipeline", "FileResult": "report",
          "IngestOptions": "options", "IngestProgress": "report", "IngestReport": "report", "setup_offline": "offline"}


def __getattr__(name: str) -> Any:
    # Lazy, so that the UI's thin modules (`ingest.report`, `ingest.handover`, `ingest.options`) do not bring the
    # pipeline and the store's modules into its process.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"ingest.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")
