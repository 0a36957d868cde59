"""Damage is caught before use and never made worse: opening a collection checks its files' sizes against the counts
recorded beside them and the payload index it needs (built again when lost and every point is there); a restore
is checked in a temporary folder before it replaces anything. Every damage gets exit 3 with what to do, never 4."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest.cli import app as ingest_app
from search.cli.app import app as search_app
from search.store import ChunkPoint, ChunkRecord, open_collection, point_id
from search.store.edge.backup import restore
from search.validation import InvalidRequestError, check_collection_name
from tests.store_helpers import DIM, random_points


def filled(data: Path, points: list[ChunkPoint] | None = None) -> Path:
    """A data folder whose embedded store holds `points` (default: 100 over five sources) in collection `docs`;
    returns the collection folder."""
    with open_collection(data_dir=data) as store:
        store.ensure("fp", {"model": "test"}, DIM)
        store.upsert(random_points(100) if points is None else points)
    return data / "qdrant" / "collections" / "docs"


def search_cli(*args: str):
    return CliRunner().invoke(search_app, list(args))


def files(folder: Path) -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under `folder`: equal when nothing was written."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")
            if p.is_file()}


def damage(collection: Path, kind: str) -> None:
    shard = collection / "shard"
    segment = next((shard / "segments").iterdir())
    if kind == "truncated vectors":
        os.truncate(next(shard.glob("segments/*/vector_storage-echo/vectors/chunk_0.mmap")), 1000)
    elif kind == "truncated payloads":
        os.truncate(next(shard.glob("segments/*/payload_storage/page_0.dat")), 1000)
    elif kind == "deleted vector file":
        next(shard.glob("segments/*/vector_storage-classical/vectors/chunk_0.mmap")).unlink()
    elif kind == "deleted segment":
        shutil.rmtree(segment)
    elif kind == "deleted payload index":
        shutil.rmtree(segment / "payload_index")
    elif kind == "emptied segment.json":
        (segment / "segment.json").write_text("")
    elif kind == "garbled payloads":
        with next(shard.glob("segments/*/payload_storage/page_0.dat")).open("r+b") as f:
            f.write(b"\xff" * 4096)
    elif kind == "bad collection.json":
        (collection / "collection.json").write_text('{"fingerprint": 1}')
    else:
        raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["truncated vectors", "truncated payloads", "deleted vector file"])
def test_a_short_data_file_is_refused_at_open_and_never_written_to(tmp_path: Path, tiny_model_dir: Path,
                                                                    kind: str) -> None:
    data = tmp_path / "data"
    collection = filled(data)
    damage(collection, kind)
    before = files(collection)
    info = search_cli("info", "--data-dir", str(data))
    assert info.exit_code == 3, info.output  # was exit 0: opening read none of these files
    flat = " ".join(info.output.split())
    assert "is damaged" in flat and "shorter than its recorded contents" in flat, flat
    assert "move" in flat and "ingest" in flat and "search restore" in flat, flat
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nOne small document.\n")
    ingest = CliRunner().invoke(ingest_app, [str(docs), "--data-dir", str(data), "--model", str(tiny_model_dir)])
    assert ingest.exit_code == 3 and "is damaged" in ingest.output, ingest.output  # was exit 4, store made worse
    assert files(collection) == before  # nothing was written


def test_a_lost_segment_gets_its_source_index_back_when_every_point_is_there(tmp_path: Path) -> None:
    data = tmp_path / "data"
    damage(filled(data), "deleted segment")  # the write-ahead log still holds every point
    info = search_cli("info", "--json", "--data-dir", str(data))
    assert info.exit_code == 0, info.output  # was exit 4: "No appropriate index for faceting: source"
    about = json.loads(info.stdout)
    assert about["points"] == 100 and about["files"] == 5


def test_a_lost_segment_with_chunks_missing_is_refused_and_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    rows = random_points(3)
    source, digest = "/docs/three.md", "h3"
    points = [ChunkPoint(point_id(source, i, digest), rows[i].vectors,
                         ChunkRecord(source, i, f"chunk {i}", content_hash=digest, n_chunks=3)) for i in (0, 2)]
    collection = filled(data, points)  # chunk 1 of 3 is not there
    damage(collection, "deleted segment")  # and the source index went with the segment
    for _ in range(2):  # refused, and refused again: no index was built on incomplete data
        info = search_cli("info", "--data-dir", str(data))
        assert info.exit_code == 3, info.output
        assert "1 of the 3 chunks of /docs/three.md are missing" in " ".join(info.output.split()), info.output
    indexes = [p.read_text() for p in collection.glob("shard/segments/*/payload_index/config.json")]
    assert not any('"source"' in text for text in indexes), indexes


DAMAGES = ["truncated vectors", "truncated payloads", "deleted vector file", "deleted segment",
           "deleted payload index", "emptied segment.json", "garbled payloads", "bad collection.json"]


@pytest.mark.parametrize("kind", DAMAGES)
def test_every_damage_is_exit_3_with_what_to_do_or_repaired_never_exit_4(tmp_path: Path, tiny_model_dir: Path,
                                                                         kind: str) -> None:
    data, docs = tmp_path / "data", tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Kettles\n\nDescale the kettle with vinegar, then rinse it three times.\n")
    model = ["--model", str(tiny_model_dir)]
    assert CliRunner().invoke(ingest_app, [str(docs), "--data-dir", str(data), *model]).exit_code == 0
    damage(data / "qdrant" / "collections" / "docs", kind)
    runs = {
        "info": search_cli("info", "--data-dir", str(data)),
        "info --check": search_cli("info", "--check", "--data-dir", str(data)),
        "search bm25": search_cli("kettle", "--mode", "bm25", "--data-dir", str(data)),
        "search": search_cli("kettle", "--data-dir", str(data), *model),
        "ingest --force": CliRunner().invoke(ingest_app, [str(docs), "--data-dir", str(data), "--force", *model]),
    }
    for what, run in runs.items():
        assert run.exit_code in (0, 3), (what, run.exit_code, run.output)
        if run.exit_code == 3:
            flat = " ".join(run.output.split())
            assert "is damaged" in flat and "ingest" in flat, (what, flat)
    if runs["info --check"].exit_code == 0:  # repaired: every command works and every point is there
        assert set(run.exit_code for run in runs.values()) == {0}, kind
        assert json.loads(search_cli("info", "--json", "--data-dir", str(data)).stdout)["files"] == 1


# -- restore ------------------------------------------------------------------------------------------------------
@pytest.fixture
def backed_up(tmp_path: Path) -> tuple[Path, Path]:
    """(data folder holding collection `docs` of 100 points, a backup of it)."""
    data, saved = tmp_path / "data", tmp_path / "backup"
    filled(data)
    assert search_cli("backup", str(saved), "--data-dir", str(data)).exit_code == 0
    return data, saved


def _beside(data: Path) -> list[str]:
    return sorted(p.name for p in (data / "qdrant" / "collections").iterdir())


@pytest.mark.parametrize("kind", ["truncated vectors", "truncated payloads", "bad collection.json",
                                  "garbled payloads"])
def test_restore_refuses_a_damaged_backup_and_changes_nothing(backed_up: tuple[Path, Path], kind: str) -> None:
    data, saved = backed_up
    damage(saved, kind)
    live = data / "qdrant" / "collections" / "docs"
    before = files(live)
    result = search_cli("restore", str(saved), "--data-dir", str(data), "--replace")
    assert result.exit_code == 3, result.output  # was exit 0 "restored", and the live collection broken
    flat = " ".join(result.output.split())
    assert f"the backup at {saved} is damaged, and nothing was changed" in flat, flat
    assert _beside(data) == ["docs"]  # no docs.replaced-*, no .docs.restoring
    assert files(live) == before
    assert search_cli("info", "--check", "--data-dir", str(data)).exit_code == 0


def test_restore_from_a_backup_with_a_lost_segment_gives_a_whole_collection(backed_up: tuple[Path, Path]) -> None:
    data, saved = backed_up
    damage(saved, "deleted segment")  # its write-ahead log holds every point: the copy is whole once indexed
    result = search_cli("restore", str(saved), "--data-dir", str(data), "--replace")
    assert result.exit_code == 0, result.output
    info = search_cli("info", "--json", "--check", "--data-dir", str(data))
    assert info.exit_code == 0, info.output  # was exit 4 after "restored": no index for faceting
    assert json.loads(info.stdout)["checked_points"] == 100 and json.loads(info.stdout)["files"] == 5


def test_a_taken_replaced_name_gets_a_free_one_and_nothing_is_left_behind(backed_up: tuple[Path, Path]) -> None:
    data, saved = backed_up
    collections = data / "qdrant" / "collections"
    now = time.time()
    for second in range(30):  # every name the replaced collection could get in the next 30 s is taken
        taken = collections / f"docs.replaced-{time.strftime('%Y%m%dT%H%M%S', time.localtime(now + second))}"
        taken.mkdir(exist_ok=True)
        (taken / "keep").write_text("an earlier replaced collection")
    result = search_cli("restore", str(saved), "--data-dir", str(data), "--replace")
    assert result.exit_code == 0, result.output  # was exit 4 "Directory not empty", .docs.restoring left behind
    kept = [name for name in _beside(data) if name.endswith("-2")]
    assert len(kept) == 1 and kept[0] in result.output.replace("\n", ""), (kept, result.output)
    assert not (collections / ".docs.restoring").exists()
    assert all((collections / name / "keep").exists() for name in _beside(data) if "replaced" in name
               and not name.endswith("-2"))
    with open_collection(data_dir=data) as store:
        assert store.count() == 100


@pytest.mark.parametrize("name", ["x" * 255, "é" * 200, "x" * 201], ids=["255 x", "200 é", "201 x"])
def test_a_collection_name_too_long_for_the_file_system_is_refused_where_names_are_checked(
    backed_up: tuple[Path, Path], name: str
) -> None:
    data, saved = backed_up
    with pytest.raises(InvalidRequestError, match="bytes long in UTF-8"):
        check_collection_name(name)
    with pytest.raises(InvalidRequestError, match="bytes long in UTF-8"):
        restore(data / "qdrant", saved, name=name)
    result = search_cli("restore", str(saved), "--data-dir", str(data), "--collection", name)
    assert result.exit_code == 2, result.output  # was exit 4: "File name too long"
    assert "bytes" in result.output and _beside(data) == ["docs"]
    check_collection_name("x" * 200)
    check_collection_name("é" * 100)
