"""The shapes the ingest parts share, on their own: `IngestOptions` (the command's options, both runners' argument,
the body of `POST /ingest`), the typed events of a handed-over run, and the `Ledger` both runners keep."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from ingest.budget import DEFAULT_MAX_FILE_CHUNKS, DEFAULT_MAX_FILE_MB, FileBudget
from ingest.chunking import DEFAULT_CHUNK_TOKENS
from ingest.discover import Shard
from ingest.events import (
    ErrorDetail,
    ErrorEvent,
    ProgressEvent,
    ReportEvent,
    WarningEvent,
    read_event,
)
from ingest.ledger import Ledger
from ingest.options import IngestOptions
from ingest.report import FileResult, IngestProgress, IngestReport
from ingest.stages import FileFinished, FileJob, FileStarted, StoreWriter
from search.errors import ExitCode, InvalidInputError
from search.store import ChunkPoint, ChunkRecord
from search.store.errors import StoreError

WIRE_KEYS = {"paths", "force", "chunk_tokens", "batch_size", "shard", "max_file_mb", "max_file_chunks"}


# -- IngestOptions ----------------------------------------------------------------------------------------------
def test_the_defaults_are_the_commands_and_the_body_keeps_its_keys() -> None:
    options = IngestOptions(paths=["/docs"])
    assert (options.force, options.chunk_tokens, options.batch_size, options.shard) == (
        False, DEFAULT_CHUNK_TOKENS, None, None)
    assert options.budget == FileBudget(DEFAULT_MAX_FILE_MB, DEFAULT_MAX_FILE_CHUNKS) == FileBudget()
    body = options.model_dump(mode="json")
    assert set(body) == WIRE_KEYS and body["paths"] == ["/docs"]
    assert IngestOptions.model_validate(json.loads(json.dumps(body))) == options


def test_paths_are_paths_from_str_or_path_and_absolute_resolves_them(tmp_path: Path) -> None:
    options = IngestOptions(paths=[tmp_path / "a", "b/../c"])
    assert options.paths == [tmp_path / "a", Path("b/../c")]
    assert options.absolute().paths == [tmp_path / "a", Path(os.path.abspath("c"))]
    assert options.paths == [tmp_path / "a", Path("b/../c")]  # unchanged: a new object


def test_a_file_name_that_is_not_utf8_survives() -> None:
    name = b"/docs/caf\xe9.txt".decode("utf-8", "surrogateescape")
    assert IngestOptions(paths=[name]).paths == [Path(name)]


@pytest.mark.parametrize("bad", [
    {"paths": []}, {"paths": ["/d"], "chunk_tokens": 7}, {"paths": ["/d"], "batch_size": 0},
    {"paths": ["/d"], "max_file_mb": -1}, {"paths": ["/d"], "max_file_chunks": -1},
])
def test_out_of_range_options_are_refused(bad: dict) -> None:
    with pytest.raises(ValidationError):
        IngestOptions.model_validate(bad)


def test_options_are_frozen_and_copied_with_changes() -> None:
    options = IngestOptions(paths=["/d"])
    with pytest.raises(ValidationError):
        options.force = True  # type: ignore[misc]
    assert options.model_copy(update={"force": True}).force and not options.force


def test_the_shard_spec_is_parsed_and_a_malformed_one_is_a_usage_error() -> None:
    assert IngestOptions(paths=["/d"]).parsed_shard() is None
    assert IngestOptions(paths=["/d"], shard="1/4").parsed_shard() == Shard(1, 4)
    for bad in ("5/2", "x"):
        with pytest.raises(InvalidInputError, match="--shard"):
            IngestOptions(paths=["/d"], shard=bad).parsed_shard()


# -- the events of a handed-over run ----------------------------------------------------------------------------
def _report() -> IngestReport:
    return IngestReport("docs", "/data", [FileResult("/d/a.txt", "added", 3), FileResult("/d/b.pdf", "failed",
                                                                                           reason="no text")],
                        chunks=3, seconds=1.5, interrupted=True, unfinished=2)


def test_every_event_is_one_line_of_its_wire_shape_and_reads_back() -> None:
    progress = IngestProgress(files_total=4, files_done=1, chunks_done=7, bytes_total=90, bytes_done=30,
                              current="/d/é.txt")
    events = [WarningEvent(warning="chunks of 300 tokens"), ProgressEvent(progress=progress),
              ReportEvent(report=_report()),
              ErrorEvent(error=ErrorDetail(detail="locked", error="StoreLocked", exit_code=ExitCode.REFUSED))]
    wire = [json.loads(event.line()) for event in events]
    assert all(event.line().endswith("\n") and event.line().count("\n") == 1 for event in events)
    assert "é" in events[1].line()  # not escaped, as before
    assert wire[0] == {"warning": "chunks of 300 tokens"}
    assert wire[1] == {"progress": {"files_total": 4, "files_done": 1, "chunks_done": 7, "bytes_total": 90,
                                    "bytes_done": 30, "current": "/d/é.txt"}}
    assert wire[2] == {"report": _report().to_dict()}  # what `ingest --json` prints
    assert wire[3] == {"error": {"detail": "locked", "error": "StoreLocked", "exit_code": 3}}
    back = [read_event(event.line()) for event in events]
    assert back[:2] == events[:2] and back[3] == events[3]
    assert isinstance(back[2], ReportEvent) and back[2].report == _report()


@pytest.mark.parametrize("line", ['{"nothing": 1}', "not json", '{"report": {"collection": "x"}}',
                                  '{"error": {"detail": "x"}}'])
def test_a_line_that_is_no_event_is_a_value_error(line: str) -> None:
    with pytest.raises(ValueError):
        read_event(line)


def test_the_error_event_carries_the_exit_code_of_ingest() -> None:
    from ingest.service import error_event

    assert error_event(FileNotFoundError("no such file or folder: /x")).error == ErrorDetail(
        detail="no such file or folder: /x", error="FileNotFoundError", exit_code=ExitCode.USAGE)
    usage = error_event(InvalidInputError("bad")).error
    assert (usage.detail, usage.exit_code) == ("bad", ExitCode.USAGE)
    refused = error_event(StoreError("down")).error
    assert refused.exit_code == ExitCode.REFUSED
    bug = error_event(TypeError("oops")).error
    assert (bug.error, bug.exit_code) == ("InternalError", ExitCode.INTERNAL) and "TypeError: oops" in bug.detail


# -- the Ledger both runners keep -------------------------------------------------------------------------------
class _Store:
    """Records the writes a `StoreWriter` makes."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def upsert(self, points: list[ChunkPoint]) -> None:
        self.calls.append(("upsert", [p.record.chunk_index for p in points]))

    def delete_source(self, source: str, keep: list[str] | None = None) -> None:
        self.calls.append(("delete", source))

    def set_chunk_count(self, ids: list[str], n: int) -> None:
        self.calls.append(("count", n))


def _point(source: str, i: int) -> ChunkPoint:
    return ChunkPoint(f"{source}-{i}", {}, ChunkRecord(source, i, f"chunk {i}", "hash"))


def _ledger() -> tuple[Ledger, _Store, IngestReport]:
    store, report = _Store(), IngestReport("docs", "/data")
    return Ledger(StoreWriter(store, report, IngestProgress(files_total=2))), store, report  # type: ignore[arg-type]


def test_a_file_is_completed_once_every_chunk_it_handed_over_is_stored_in_any_order() -> None:
    ledger, store, report = _ledger()
    job = FileJob("/d/a.txt", Path("/d/a.txt"), "updated", "hash", size=100, done=frozenset({1}))
    ledger.take(FileStarted(job))
    assert ledger.progress.bytes_total == 100
    ledger.upsert([_point(job.source, 0)])
    ledger.take(FileFinished(job, n_chunks=3, streamed=False))  # expects chunks 0 and 2 (1 was stored before)
    ledger.complete_ready()
    assert report.files == [] and ("delete", job.source) not in store.calls
    ledger.upsert([_point(job.source, 2)])
    ledger.complete_ready()
    assert report.files == [FileResult(job.source, "updated", chunks=3)]
    assert store.calls == [("upsert", [0]), ("upsert", [2]), ("delete", job.source), ("count", 3)]
    assert (ledger.progress.files_done, ledger.progress.chunks_done, ledger.progress.bytes_done) == (1, 2, 100)
    assert not ledger.finished and not ledger.sizes and not ledger.stored


def test_an_outcome_is_reported_and_a_started_file_that_fails_leaves_the_eta() -> None:
    ledger, store, report = _ledger()
    job = FileJob("/d/big.txt", Path("/d/big.txt"), "added", "hash", size=500, done=frozenset())
    ledger.take(FileStarted(job))
    ledger.take(FileResult(job.source, "failed", reason="too large"))
    ledger.take(FileResult("/d/gone.txt", "removed"))
    assert ledger.progress.bytes_total == 0 and ledger.progress.files_done == 2
    assert [f.status for f in report.files] == ["failed", "removed"] and store.calls == [("delete", "/d/gone.txt")]


def test_the_ledger_writes_through_the_runners_write() -> None:
    queued: list[str] = []
    store, report = _Store(), IngestReport("docs", "/data")
    ledger = Ledger(StoreWriter(store, report, IngestProgress(files_total=1)),  # type: ignore[arg-type]
                    lambda fn, *args: queued.append(fn.__name__))
    ledger.upsert([_point("/d/a.txt", 0)])
    ledger.take(FileResult("/d/b.txt", "unchanged"))
    assert queued == ["upsert", "record"] and store.calls == []
