"""Files and folders -> chunks -> echo and classical vectors -> the Qdrant collection.

The Python API (what the CLI and the UI call)::

    from ingest import ingest_paths, setup_offline
    from search.store import Collection
    from embedder import Embedder, tune_process

    setup_offline()  # once per program: unstructured with no telemetry and no spaCy download (else it fetches one)
    tune_process()  # optional: the commands' thread and kernel-cache settings (see `embedder.tune_process`)
    report = ingest_paths(["./docs"], Collection.open(), Embedder.from_pretrained(), progress=print)
    report.files  # [FileResult(source, status, chunks, reason)], status: added/updated/unchanged/removed/failed

`budget=FileBudget(max_mb, max_chunks)` sets the per-file limit (a bigger file fails as "too large"), and
`stop=threading.Event()` ends a run early and cleanly when set (`report.interrupted`).
"""

from ingest.budget import FileBudget
from ingest.discover import Shard
from ingest.offline import setup_offline
from ingest.pipeline import ingest_paths
from ingest.report import FileResult, IngestProgress, IngestReport

__all__ = ["FileBudget", "FileResult", "IngestProgress", "IngestReport", "Shard", "ingest_paths", "setup_offline"]
