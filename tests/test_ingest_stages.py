"""The ingest stages on their own, without threads or a model: what a file becomes, and how records are embedded."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np

from ingest.budget import FileBudget
from ingest.chunking import Chunker
from ingest.report import FileResult
from ingest.stages import (
    ChunkBatch,
    Chunking,
    FileFinished,
    FileStarted,
    Message,
    embed_records,
    file_hash,
    file_messages,
)
from ingest.state import StoredFile
from search.store import ChunkRecord, point_id

WORDS = Chunker(lambda text: len(text.split()), max_tokens=8)  # one paragraph of six words per chunk


def chunking(budget: FileBudget | None = None, force: bool = False, spill: int = 100) -> Chunking:
    return Chunking(WORDS, "v1/8", budget or FileBudget(), force, spill)


def write(path: Path, paragraphs: int) -> Path:
    path.write_text("\n\n".join(f"Paragraph {i} has six words." for i in range(paragraphs)))
    return path


def stored_as(path: Path, indices: range, n_chunks: int) -> StoredFile:
    """What the collection holds of `path` after storing the chunks `indices` of its current content."""
    digest = file_hash(path)
    return StoredFile(str(path), {
        point_id(str(path), i, digest): ChunkRecord(str(path), i, "", digest, n_chunks=n_chunks, chunker="v1/8")
        for i in indices
    })


def kinds(messages: list[Message]) -> list[str]:
    return [type(m).__name__ for m in messages]


def test_a_new_file_is_started_chunked_and_finished(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", 3)
    messages = list(file_messages(str(path), path, None, chunking()))
    assert kinds(messages) == ["FileStarted", "ChunkBatch", "FileFinished"]
    started, batch, finished = messages
    assert isinstance(started, FileStarted) and started.file.status == "added" and not started.file.done
    assert isinstance(batch, ChunkBatch) and [r.chunk_index for r in batch.records] == [0, 1, 2]
    assert {(r.source, r.content_hash, r.n_chunks, r.chunker) for r in batch.records} == {
        (str(path), file_hash(path), 3, "v1/8")}
    assert finished == FileFinished(started.file, 3, streamed=False)


def test_a_complete_file_is_unchanged_and_a_half_stored_one_hands_over_only_what_is_missing(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", 4)
    complete = stored_as(path, range(4), 4)
    assert list(file_messages(str(path), path, complete, chunking())) == [FileResult(str(path), "unchanged", chunks=4)]
    assert kinds(list(file_messages(str(path), path, complete, chunking(force=True)))) == [
        "FileStarted", "ChunkBatch", "FileFinished"]
    half = list(file_messages(str(path), path, stored_as(path, range(2), -1), chunking()))
    assert isinstance(half[0], FileStarted) and half[0].file.status == "updated" and half[0].file.done == {0, 1}
    assert isinstance(half[1], ChunkBatch) and [r.chunk_index for r in half[1].records] == [2, 3]


def test_without_a_chunk_budget_a_file_streams_with_its_count_unknown_until_the_end(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", 5)
    messages = list(file_messages(str(path), path, None, chunking(FileBudget(max_chunks=0), spill=2)))
    assert kinds(messages) == ["FileStarted", "ChunkBatch", "ChunkBatch", "ChunkBatch", "FileFinished"]
    batches = [m for m in messages if isinstance(m, ChunkBatch)]
    assert [[r.n_chunks for r in b.records] for b in batches] == [[-1, -1], [-1, -1], [5]]
    assert isinstance(messages[-1], FileFinished) and messages[-1].streamed and messages[-1].n_chunks == 5


def test_a_file_problem_is_its_outcome(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", 5)
    too_many = list(file_messages(str(path), path, None, chunking(FileBudget(max_chunks=3))))
    assert kinds(too_many) == ["FileStarted", "FileResult"]  # nothing of it handed over to embed
    assert isinstance(too_many[1], FileResult) and too_many[1].reason.startswith("too large: more than 3 chunks")
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert [m.reason for m in file_messages(str(empty), empty, None, chunking()) if isinstance(m, FileResult)] == [
        "no text found (empty file)"]
    gone = tmp_path / "gone.txt"
    assert list(file_messages(str(gone), gone, None, chunking())) == []  # never stored: nothing to say
    assert list(file_messages(str(gone), gone, StoredFile(str(gone)), chunking())) == [
        FileResult(str(gone), "removed")]


def test_identical_texts_are_embedded_once() -> None:
    seen: list[list[str]] = []

    def encode(texts: list[str], kind: str) -> SimpleNamespace:
        seen.append(texts)
        rows = np.arange(len(texts), dtype=np.float32)[:, None] * np.ones((1, 4), dtype=np.float32)
        return SimpleNamespace(echo=rows, classical=rows + 100)

    records = [ChunkRecord("/a", 0, "same"), ChunkRecord("/b", 0, "same"), ChunkRecord("/a", 1, "other")]
    points = embed_records(SimpleNamespace(encode=encode), records)  # type: ignore[arg-type]
    assert seen == [["same", "other"]]
    assert [p.record for p in points] == records and [p.id for p in points] == [point_id("/a", 0, ""),
                                                                                 point_id("/b", 0, ""),
                                                                                 point_id("/a", 1, "")]
    assert [float(p.vectors["echo"][0]) for p in points] == [0.0, 0.0, 1.0]
    assert float(points[2].vectors["classical"][0]) == 101.0
