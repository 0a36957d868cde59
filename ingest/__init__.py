"""Files and folders -> chunks -> echo and classical vectors -> the Qdrant collection.

The Python API (what the CLI and the UI call)::

    from ingest import ingest_paths, setup_offline
    from search.store import open_collection
    from embedder import Embedder, tune_process

    setup_offline()  # once per program: unstructured with no telemetry and no spaCy download (else it fetches one)
    tune_process()  # optional: the commands' thread and kernel-cache settings (see `embedder.tune_process`)
    report = ingest_paths(["./docs"], open_collection(), Embedder.from_pretrained(), progress=print)
    report.files  # [FileResult(source, status, chunks, reason)], status: added/updated/unchanged/removed/failed

`budget=FileBudget(max_mb, max_chunks)` sets the per-file limit (a bigger file fails as "too large"), and
`stop=threading.Event()` ends a run early and cleanly when set (`report.interrupted`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.budget import FileBudget
    from ingest.discover import Shard
    from ingest.offline import setup_offline
    from ingest.pipeline import ingest_paths
    from ingest.report import FileResult, IngestProgress, IngestReport

__all__ = ["FileBudget", "FileResult", "IngestProgress", "IngestReport", "Shard", "ingest_paths", "setup_offline"]

_HOMES = {"FileBudget": "budget", "Shard": "discover", "ingest_paths": "pipeline", "FileResult": "report",
          "IngestProgress": "report", "IngestReport": "report", "setup_offline": "offline"}


def __getattr__(name: str) -> Any:
    # Lazy, so that `ingest.report` and `ingest.parse` (the UI's upload types) do not load the embedder and torch.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"ingest.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'ingest' has no attribute {name!r}")
