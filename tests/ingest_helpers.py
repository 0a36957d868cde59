"""Helpers for the ingest tests: what a store holds, and an ingest report's files by status."""

from __future__ import annotations

from pathlib import Path

from ingest.report import IngestReport
from search.store import ChunkRecord, Collection


def records_by_id(store: Collection) -> dict[str, ChunkRecord]:
    """id -> record of every point."""
    return dict(store.records())


def by_status(report: IngestReport) -> dict[str, set[str]]:
    """status -> names of the report's files with that status."""
    out: dict[str, set[str]] = {}
    for f in report.files:
        out.setdefault(f.status, set()).add(Path(f.source).name)
    return out
