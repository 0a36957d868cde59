"""One huge file must not hold up the rest: per-file budget, smallest-first order, a clean early stop (tiny model)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from ingest import IngestOptions, ingest_paths
from ingest.budget import FileBudget, smallest_first
from ingest.state import load_state
from search.query.request import SearchQuery
from search.query.searcher import Searcher
from search.store import open_collection
from tests.ingest_helpers import by_status, records_by_id


@pytest.fixture
def store(tmp_path: Path):
    s = open_collection(path=tmp_path / "qdrant")
    yield s
    s.close()


def _small_files(docs: Path, n: int) -> set[str]:
    for i in range(n):
        (docs / f"small{i:02d}.md").write_text(f"# Note {i}\n\nA short note about item number {i}.\n")
    return {f"small{i:02d}.md" for i in range(n)}


def _spy_on_encode(monkeypatch: pytest.MonkeyPatch, embedder) -> list[str]:  # noqa: ANN001
    """Record every text the embedder is asked to embed, in order."""
    seen: list[str] = []
    encode = embedder.encode

    def spy(texts, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.extend(texts)
        return encode(texts, *args, **kwargs)

    monkeypatch.setattr(embedder, "encode", spy)
    return seen


def test_oversized_files_are_reported_too_large_and_the_small_files_go_in(tmp_path, store, tiny_embedder,
                                                                          monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    small = _small_files(docs, 3)
    # More chunks than the budget allows (it sorts first by name, where the walk used to start).
    (docs / "aaa_many_chunks.txt").write_text("\n\n".join(f"Paragraph {i} of the long file, BIGFILE." * 4
                                                          for i in range(60)))
    (docs / "rows.csv").write_text("id,text\n" + "".join(f"{i},row {i} BIGFILE\n" for i in range(20_000)))
    embedded = _spy_on_encode(monkeypatch, tiny_embedder)

    options = IngestOptions(paths=[docs], chunk_tokens=60, batch_size=4, max_file_mb=0.1, max_file_chunks=20)
    report = ingest_paths(options, store, tiny_embedder)

    assert by_status(report) == {"added": small, "failed": {"aaa_many_chunks.txt", "rows.csv"}}
    reasons = {Path(f.source).name: f.reason for f in report.failed}
    assert reasons["aaa_many_chunks.txt"].startswith("too large: more than 20 chunks")
    assert "--max-file-chunks" in reasons["aaa_many_chunks.txt"]
    assert reasons["rows.csv"].startswith("too large:") and "--max-file-mb" in reasons["rows.csv"]
    assert not any("BIGFILE" in text for text in embedded)  # nothing of an oversized file was embedded
    assert {Path(p.source).name for p in records_by_id(store).values()} == small
    searcher = Searcher(store=store, embedder=tiny_embedder)
    for name in small:
        hits = searcher.search(SearchQuery("a short note", k=3, mode="echo", filter=[str(docs / name)]))
        assert [Path(h.source).name for h in hits.echo] == [name]
    assert "too large" in report.summary()


def test_small_files_are_embedded_before_a_big_file(tmp_path, store, tiny_embedder, monkeypatch):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "aaa_big.txt").write_text("\n\n".join(f"Big paragraph {i} BIGFILE." for i in range(40)))
    small = _small_files(docs, 6)
    embedded = _spy_on_encode(monkeypatch, tiny_embedder)

    report = ingest_paths(IngestOptions(paths=[docs], chunk_tokens=30, batch_size=2), store, tiny_embedder)

    assert report.ok and by_status(report) == {"added": small | {"aaa_big.txt"}}
    big = [i for i, text in enumerate(embedded) if "BIGFILE" in text]
    notes = [i for i, text in enumerate(embedded) if "short note" in text]
    assert len(big) > 10 and len(notes) == 6
    assert max(notes) < min(big)  # no small file waited for the big one


def test_smallest_first_orders_by_size_and_puts_unreadable_first(tmp_path):
    (tmp_path / "b.txt").write_text("bb")
    (tmp_path / "a.txt").write_text("aaaa")
    (tmp_path / "c.txt").write_text("c")
    files = {str(tmp_path / n): tmp_path / n for n in ("a.txt", "b.txt", "c.txt", "gone.txt")}
    assert [Path(s).name for s, _ in smallest_first(files)] == ["gone.txt", "c.txt", "b.txt", "a.txt"]


def test_budget_checks_and_zero_means_no_limit():
    budget = FileBudget(max_mb=1, max_chunks=5)
    assert budget.size_problem(2**20) is None and budget.size_problem(2**20 + 1)
    assert budget.chunks_problem(5) is None and budget.chunks_problem(6)
    unlimited = FileBudget(0, 0)
    assert unlimited.size_problem(10**12) is None and unlimited.chunks_problem(10**9) is None
    with pytest.raises(ValueError):
        FileBudget(max_mb=-1)


def test_stop_finishes_the_batch_in_flight_and_a_rerun_completes(tmp_path, store, tiny_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    names = _small_files(docs, 12)
    stop = threading.Event()
    batches = 0

    def stop_after_two_batches(progress) -> None:  # noqa: ANN001
        nonlocal batches
        batches += 1
        if batches == 2:
            stop.set()

    first = ingest_paths(IngestOptions(paths=[docs], batch_size=2), store, tiny_embedder,
                         progress=stop_after_two_batches, stop=stop)

    assert first.interrupted and 0 < first.count("added") < 12 and first.unfinished == 12 - len(first.files)
    assert "interrupted" in first.summary() and first.to_dict()["interrupted"] is True
    state = load_state(store)
    for f in first.files:  # every file the report calls added is complete in the collection
        stored = state[f.source]
        (content_hash,) = {r.content_hash for r in stored.points.values()}
        assert stored.complete(content_hash, "v1/200")
    second = ingest_paths(IngestOptions(paths=[docs]), store, tiny_embedder)
    assert not second.interrupted and second.count("unchanged") == len(first.files)
    assert second.count("added") == 12 - len(first.files)
    assert sorted(Path(p.source).name for p in records_by_id(store).values()) == sorted(names)  # no duplicates


def test_symlink_loops_are_named_and_a_folder_named_like_a_file_is_walked(tmp_path, store, tiny_embedder):
    docs = tmp_path / "docs"
    (docs / "fake.md").mkdir(parents=True)
    (docs / "fake.md" / "inside.txt").write_text("A file inside a folder whose name ends in .md.")
    (docs / "self.md").symlink_to("self.md")
    (docs / "ping.txt").symlink_to("pong.txt")
    (docs / "pong.txt").symlink_to("ping.txt")
    (docs / "dangling.txt").symlink_to("nowhere.txt")

    report = ingest_paths(IngestOptions(paths=[docs]), store, tiny_embedder)

    reasons = {Path(f.source).name: f.reason for f in report.failed}
    assert reasons == {"self.md": "symlink loop", "ping.txt": "symlink loop", "pong.txt": "symlink loop",
                       "dangling.txt": "broken symbolic link"}
    assert by_status(report)["added"] == {"inside.txt"}
    given = ingest_paths(IngestOptions(paths=[docs / "self.md"]), store, tiny_embedder)  # named on the command line
    assert [(Path(f.source).name, f.reason) for f in given.files] == [("self.md", "symlink loop")]
