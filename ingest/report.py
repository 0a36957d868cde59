"""What an ingest run did, per file and in total: returned by `ingest_paths`, printed by the CLI."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Status = Literal["added", "updated", "unchanged", "removed", "failed"]
STATUSES: tuple[Status, ...] = ("added", "updated", "unchanged", "removed", "failed")


@dataclass
class FileResult:
    """One file's outcome; `reason` says why it failed; `chunks` is its chunk count when stored."""

    source: str
    status: Status
    chunks: int = 0
    reason: str = ""


INDEXING = "building the search index"
"""`IngestProgress.current` while the store builds its index at the end of a run."""


@dataclass
class IngestProgress:
    """Passed to the `progress` callback, on the calling thread, as batches are stored and files finished."""

    files_total: int
    files_done: int = 0
    chunks_done: int = 0
    """Chunks embedded and stored so far in this run."""
    bytes_total: int = 0
    """Size of the files that need parsing/embedding (unchanged files excluded): the basis of an ETA."""
    bytes_done: int = 0
    current: str = ""


@dataclass
class IngestReport:
    """Result of one sync of paths into a collection."""

    collection: str
    location: str
    files: list[FileResult] = field(default_factory=list)
    chunks: int = 0
    """Chunks embedded in this run."""
    seconds: float = 0.0
    index_seconds: float = 0.0
    """Of `seconds`, the time the store took to build its search index at the end (embedded store)."""
    ignored: int = 0
    """Files skipped because of their type."""
    interrupted: bool = False
    """The run was stopped early (Ctrl-C): what it finished is stored, a re-run finishes the rest."""
    unfinished: int = 0
    """Files of an interrupted run that were not handled yet."""

    def count(self, status: Status) -> int:
        return sum(f.status == status for f in self.files)

    @property
    def failed(self) -> list[FileResult]:
        return [f for f in self.files if f.status == "failed"]

    @property
    def ok(self) -> bool:
        """True when every file was handled (exit code 0)."""
        return not self.failed

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: totals per status plus every file's result."""
        return {
            "collection": self.collection,
            "location": self.location,
            "ok": self.ok,
            "counts": {status: self.count(status) for status in STATUSES},
            "chunks": self.chunks,
            "seconds": round(self.seconds, 3),
            "index_seconds": round(self.index_seconds, 3),
            "ignored": self.ignored,
            "interrupted": self.interrupted,
            "unfinished": self.unfinished,
            "files": [asdict(f) for f in self.files],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IngestReport:
        """The report `to_dict` wrote (the service's `POST /ingest` sends it)."""
        return cls(
            collection=data["collection"], location=data["location"],
            files=[FileResult(**f) for f in data["files"]], chunks=data["chunks"], seconds=data["seconds"],
            index_seconds=data["index_seconds"], ignored=data["ignored"], interrupted=data["interrupted"],
            unfinished=data["unfinished"],
        )

    def summary(self) -> str:
        """Human-readable lines: totals, then each failure with its reason."""
        counts = ", ".join(f"{self.count(s)} {s}" for s in STATUSES)
        rate = f" ({self.chunks / self.seconds:.1f} chunks/s)" if self.chunks and self.seconds > 0 else ""
        index = f" (search index {self.index_seconds:.1f} s)" if self.index_seconds >= 0.05 else ""
        lines = [f"files: {counts}; chunks embedded: {self.chunks}{rate}; {self.seconds:.1f} s{index}"]
        if self.ignored:
            lines.append(f"ignored {self.ignored} file(s) of unsupported types")
        lines += [f"  failed: {f.source}: {f.reason}" for f in self.failed]
        if self.interrupted:
            lines.append(f"interrupted: {self.unfinished} file(s) not finished; run ingest again to finish them")
        return "\n".join(lines)
