"""ingest: formats, chunking, incremental sync, bad inputs, sharding, fingerprints (tiny model, local Qdrant)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest import IngestOptions, Shard, ingest_paths
from ingest.chunking import tokenizer_chunker
from ingest.parse import Element, parse_file
from search.store import FingerprintMismatchError, open_collection, point_id
from tests.fixtures_docs import write_blank_pdf, write_corpus
from tests.ingest_helpers import by_status, records_by_id


@pytest.fixture
def store(tmp_path: Path):
    s = open_collection(path=tmp_path / "qdrant")
    yield s
    s.close()


def test_every_format_is_parsed_with_titles_and_pages(tmp_path, store, tiny_embedder):
    files = write_corpus(tmp_path / "docs")
    report = ingest_paths(IngestOptions(paths=[tmp_path / "docs"]), store, tiny_embedder)
    assert report.ok, report.summary()
    assert by_status(report) == {"added": {p.name for p in files.values()}}
    stored = records_by_id(store).values()
    text = {Path(p.source).name: "\n".join(q.text for q in stored if q.source == p.source) for p in stored}
    for name, needle in [("solar.pdf", "Lithium batteries"), ("garden.docx", "Aphids"), ("results.pptx", "Revenue"),
                         ("notes.txt", "release on Friday"), ("guide.md", "folder of documents"),
                         ("intro.rst", "moon orbits"), ("cats.html", "eat fish"), ("dogs.htm", "long walks"),
                         ("cities.csv", "city: Rome; country: Italy"), ("config.json", "service.owners[1]: bo"),
                         ("mail.eml", "budget for the trip")]:
        assert needle in text[name], name
    pdf_pages = {p.page for p in stored if p.source.endswith("solar.pdf")}
    assert pdf_pages <= {1, 2} and 1 in pdf_pages
    md = sorted((p for p in stored if p.source.endswith("guide.md")), key=lambda p: p.chunk_index)
    assert [p.title for p in md] == ["Guide", "Guide > Usage"]
    assert all(p.n_chunks == len(md) for p in md)


def test_chunks_follow_headings_and_respect_the_token_budget(tiny_embedder):
    chunker = tokenizer_chunker(tiny_embedder.tokenizer, 60)
    long_para = " ".join(f"Sentence number {i} is here." for i in range(40))
    elements = [Element("Intro", heading=True), Element("Short text.", page=1), Element("Part two", heading=True),
                Element(long_para, page=2), Element("Sub", heading=True, depth=1), Element("Tail words.")]
    chunks = list(chunker.chunks(elements))
    assert [c.index for c in chunks] == list(range(len(chunks)))
    assert chunks[0].text == "Intro\nShort text." and chunks[0].title == "Intro" and chunks[0].page == 1
    assert all(tiny_embedder.count_tokens(c.text) <= 60 + 2 for c in chunks)
    body = [c for c in chunks if c.title == "Part two"]
    assert len(body) > 3 and body[0].text.startswith("Part two\nSentence number 0")
    assert " ".join(c.text for c in body).replace("Part two\n", "").split() == long_para.split()
    assert all(c.text.endswith(".") for c in body)  # cut at sentence ends
    assert chunks[-1].title == "Part two > Sub" and chunks[-1].text == "Sub\nTail words."


def test_incremental_sync_skips_replaces_and_removes(tmp_path, store, tiny_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"f{i}.txt").write_text(f"File {i}\n\nThis is the body of file number {i}, with some words.\n")
    first = ingest_paths(IngestOptions(paths=[docs]), store, tiny_embedder)
    assert first.count("added") == 5 and first.chunks == 5
    before = records_by_id(store)

    again = ingest_paths(IngestOptions(paths=[docs]), store, tiny_embedder)
    assert again.count("unchanged") == 5 and again.chunks == 0  # no model forward
    assert records_by_id(store) == before

    (docs / "f1.txt").write_text("File 1\n\nCompletely new words about volcanoes.\n")
    (docs / "f2.txt").unlink()
    (docs / "f5.txt").write_text("A new file about rivers.\n")
    third = ingest_paths(IngestOptions(paths=[docs]), store, tiny_embedder)
    assert by_status(third) == {"updated": {"f1.txt"}, "removed": {"f2.txt"}, "added": {"f5.txt"},
                                "unchanged": {"f0.txt", "f3.txt", "f4.txt"}}
    now = records_by_id(store)
    assert not any(p.source.endswith("f2.txt") for p in now.values())
    f1 = [p for p in now.values() if p.source.endswith("f1.txt")]
    assert len(f1) == 1 and "volcanoes" in f1[0].text

    forced = ingest_paths(IngestOptions(paths=[docs], force=True), store, tiny_embedder)
    assert forced.count("updated") == 5 and forced.chunks == 5
    assert set(records_by_id(store)) == set(now)


def test_interrupted_file_is_finished_reembedding_only_missing_chunks(tmp_path, store, tiny_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "long.txt").write_text("\n\n".join(f"Paragraph {i} talks about topic {i} at length." * 3
                                               for i in range(30)))
    ingest_paths(IngestOptions(paths=[docs], chunk_tokens=100), store, tiny_embedder)
    complete = records_by_id(store)
    assert len(complete) > 5
    lost = sorted(complete)[:3]  # as if the run had been killed before these were stored
    store.delete_source(str(docs / "long.txt"), keep=sorted(set(complete) - set(lost)))
    report = ingest_paths(IngestOptions(paths=[docs], chunk_tokens=100), store, tiny_embedder)
    assert report.chunks == 3 and report.count("updated") == 1
    assert set(records_by_id(store)) == set(complete)


def test_chunk_budget_change_rechunks_unchanged_files(tmp_path, store, tiny_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text(" ".join(f"word{i}" for i in range(300)))
    small = ingest_paths(IngestOptions(paths=[docs], chunk_tokens=100), store, tiny_embedder)
    big = ingest_paths(IngestOptions(paths=[docs], chunk_tokens=400), store, tiny_embedder)
    assert big.count("updated") == 1 and big.files[0].chunks < small.files[0].chunks
    assert len(records_by_id(store)) == big.files[0].chunks


def test_bad_inputs_never_crash_and_everything_else_gets_in(tmp_path, store, tiny_embedder):
    docs = tmp_path / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / "corrupt.pdf").write_bytes(b"%PDF-1.4\n1 0 obj garbage \x00\x01\x02 no trailer")
    write_blank_pdf(docs / "scanned.pdf")
    (docs / "zero.txt").write_bytes(b"")
    (docs / "binary.txt").write_bytes(bytes(range(256)) * 40)
    (docs / "latin1.txt").write_bytes("Le café était délicieux à Noël, dit François.".encode("latin-1"))
    (docs / "sub" / "loop").symlink_to(docs, target_is_directory=True)  # a symlink loop
    unreadable = docs / "secret.txt"
    if os.geteuid() == 0:  # root reads any mode: use a file the kernel refuses to read (EIO) instead
        unreadable.symlink_to("/proc/self/mem")
    else:
        unreadable.write_text("hidden")
        unreadable.chmod(0)
    (docs / "my notes é 日本.txt").write_text("Non-ASCII file names are fine: こんにちは.", encoding="utf-8")
    (docs / "twin a.txt").write_text("Identical twins share the same words.")
    (docs / "twin b.txt").write_text("Identical twins share the same words.")
    for i in range(40):
        (docs / f"small{i:02d}.txt").write_text(f"Small file {i} about item {i}.")
    doomed = docs / "zz_deleted_during_run.txt"
    doomed.write_text("This file is deleted while the run is going on.")

    def delete_doomed(_progress) -> None:
        doomed.unlink(missing_ok=True)

    report = ingest_paths(IngestOptions(paths=[docs], batch_size=2), store, tiny_embedder, progress=delete_doomed)
    status = by_status(report)
    assert status["failed"] == {"corrupt.pdf", "scanned.pdf", "zero.txt", "binary.txt", "secret.txt"}
    reasons = {Path(f.source).name: f.reason for f in report.failed}
    assert "corrupt" in reasons["corrupt.pdf"] and "no extractable text" in reasons["scanned.pdf"]
    assert "binary" in reasons["binary.txt"] and "empty" in reasons["zero.txt"]
    expected = {"latin1.txt", "my notes é 日本.txt", "twin a.txt", "twin b.txt"}
    expected |= {f"small{i:02d}.txt" for i in range(40)}
    assert status["added"] == expected
    stored = records_by_id(store).values()
    assert {Path(p.source).name for p in stored} == expected  # the loop added no duplicates, the doomed file nothing
    assert any("Noël" in p.text for p in stored)
    assert len(stored) == len(expected)


def test_thousand_small_files_and_fast_unchanged_rerun(tmp_path, store, tiny_embedder, monkeypatch):
    docs = tmp_path / "many"
    for i in range(1000):
        folder = docs / f"d{i % 10}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"n{i}.md").write_text(f"# Note {i}\n\nRemember item {i} and its colour {i * 7 % 13}.\n")
    first = ingest_paths(IngestOptions(paths=[docs], batch_size=64), store, tiny_embedder)
    assert first.count("added") == 1000 and len(records_by_id(store)) == 1000
    # The re-run must not touch the model at all (its speed is measured by bench/ingest.py, not here).
    monkeypatch.setattr(tiny_embedder, "encode", lambda *a, **k: pytest.fail("model ran on unchanged files"))
    again = ingest_paths(IngestOptions(paths=[docs]), store, tiny_embedder)
    assert again.count("unchanged") == 1000 and again.chunks == 0


def test_shards_split_the_files_and_delete_only_their_own(tmp_path, store, tiny_embedder):
    docs = tmp_path / "docs"
    docs.mkdir()
    shards = [f"{i}/3" for i in range(3)]
    count = 0  # 12 files, and more while a shard would own none (ownership hashes the path, which tmp_path varies)
    while count < 12 or not all(any(Shard.parse(s).owns(str(p)) for p in docs.iterdir()) for s in shards):
        (docs / f"s{count}.txt").write_text(f"Shard test file {count}.")
        count += 1
    reports = [ingest_paths(IngestOptions(paths=[docs], shard=s), store, tiny_embedder) for s in shards]
    handled = [{f.source for f in r.files} for r in reports]
    assert sum(len(h) for h in handled) == count and set().union(*handled) == {str(p) for p in docs.iterdir()}
    assert all(handled)  # every shard gets the files it owns
    for f in sorted(docs.iterdir()):
        f.unlink()
    cleanup = ingest_paths(IngestOptions(paths=[docs], shard=shards[0]), store, tiny_embedder)
    assert {f.source for f in cleanup.files} == handled[0]
    assert {p.source for p in records_by_id(store).values()} == handled[1] | handled[2]
    with pytest.raises(ValueError):
        Shard.parse("3/3")


def test_other_embedder_is_refused_naming_both_fingerprints(tmp_path, store, tiny_embedder, tiny_model_dir):
    from embedder import Embedder

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Some text.")
    ingest_paths(IngestOptions(paths=[docs]), store, tiny_embedder)
    other = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32", pooling="last")
    with pytest.raises(FingerprintMismatchError) as err:
        ingest_paths(IngestOptions(paths=[docs]), store, other)
    assert tiny_embedder.fingerprint in str(err.value) and other.fingerprint in str(err.value)
    assert "--collection" in str(err.value)


def test_point_ids_are_deterministic(tmp_path, tiny_embedder):
    docs = tmp_path / "docs"
    write_corpus(docs)
    ids = []
    for run in range(2):
        s = open_collection(path=tmp_path / f"q{run}")
        ingest_paths(IngestOptions(paths=[docs], batch_size=3 + run), s, tiny_embedder)
        ids.append(set(records_by_id(s)))
        records = records_by_id(s).values()
        s.close()
    assert ids[0] == ids[1]
    assert ids[0] == {point_id(p.source, p.chunk_index, p.content_hash) for p in records}


@pytest.mark.slow
def test_fifty_megabyte_text_streams_in_bounded_memory(tmp_path, tiny_model_dir):
    """Parse + chunk a 50 MB .txt in a fresh process: peak RSS grows far less than the file size."""
    import subprocess
    import sys

    big = tmp_path / "big.txt"
    paragraph = ("The quick brown fox jumps over the lazy dog near the river bank. " * 6 + "\n\n").encode()
    with big.open("wb") as f:
        for _ in range(50 * 2**20 // len(paragraph) + 1):
            f.write(paragraph)
    small = tmp_path / "small.txt"
    small.write_bytes(paragraph * 20)
    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from transformers import AutoTokenizer\n"
        "from ingest.chunking import tokenizer_chunker\n"
        "from ingest.parse import parse_file\n"
        "from ingest.offline import setup_offline\n"
        "setup_offline()\n"
        f"tok = AutoTokenizer.from_pretrained({str(tiny_model_dir)!r})\n"
        "n = chars = 0\n"
        "for c in tokenizer_chunker(tok, 500).chunks(parse_file(Path(sys.argv[1]))):\n"
        "    n += 1; chars += len(c.text)\n"
        "print(n, chars, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n"
    )

    def run(path: Path) -> tuple[int, int, int]:
        out = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, timeout=300,
                             cwd=Path(__file__).parents[1])
        assert out.returncode == 0, out.stderr[-2000:]
        n, chars, rss_kb = map(int, out.stdout.split()[-3:])
        return n, chars, rss_kb

    assert big.stat().st_size >= 50 * 2**20
    n_big, chars_big, rss_big = run(big)
    _, _, rss_small = run(small)
    assert chars_big >= 0.98 * big.stat().st_size  # all the text came through
    assert n_big > 50 * 2**20 // 500
    assert (rss_big - rss_small) * 1024 < 25 * 2**20, (rss_big, rss_small)  # well under the 50 MB file


def test_parse_file_reports_unsupported_type(tmp_path):
    from ingest.parse import ParseError

    path = tmp_path / "x.xyz"
    path.write_text("data")
    with pytest.raises(ParseError, match="unsupported"):
        list(parse_file(path))


def test_a_first_load_into_a_server_defers_indexing_until_an_ingest_finishes(tmp_path, tiny_embedder):
    import threading

    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(6):
        (docs / f"note{i}.txt").write_text(f"Note {i} about the bulk load of a server collection. " * 20)
    store = open_collection(url=":memory:")
    stop = threading.Event()
    first = ingest_paths(IngestOptions(paths=[docs], batch_size=2), store, tiny_embedder, progress=lambda _: stop.set(),
                         stop=stop)
    assert first.interrupted and store.count() > 0
    assert store.info().index == "deferred"  # an interrupted bulk load leaves the server's indexing off
    finished = ingest_paths(IngestOptions(paths=[docs], batch_size=2), store, tiny_embedder)
    assert not finished.interrupted and len(store.sources()) == 6
    assert store.info().index == "server"  # switched on when a run finished: the server builds its graphs
    assert store.optimize() is False  # and only once
    store.close()
