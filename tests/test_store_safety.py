"""The embedded store never loses or overwrites a collection: metadata and data that disagree are refused with what
to do, damaged files are named, and the store is refused rather than rebuilt."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ingest.cli import app as ingest_app
from search.cli.app import app as search_app
from search.store import StoreDamagedError, open_collection
from tests.store_helpers import DIM, random_points


def filled(data: Path, n: int = 100, dim: int = DIM, fingerprint: str = "fp", min_free_mb: float = 256) -> Path:
    """A data folder whose embedded store holds `n` points in collection `docs`; returns the collection folder."""
    with open_collection(data_dir=data, min_free_mb=min_free_mb) as store:
        store.ensure(fingerprint, {"model": "test"}, dim)
        store.upsert(random_points(n, dim))
    return data / "qdrant" / "collections" / "docs"


def count(data: Path) -> int:
    with open_collection(data_dir=data) as store:
        return store.count()


def search_cli(*args: str):
    return CliRunner().invoke(search_app, list(args))


def test_data_without_its_metadata_is_refused_by_info_and_ingest_and_never_overwritten(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    data = tmp_path / "data"
    folder = filled(data)
    meta = (folder / "collection.json").read_bytes()
    (folder / "collection.json").unlink()
    info = search_cli("info", "--data-dir", str(data))
    assert info.exit_code == 3, info.output
    assert "damaged" in info.output and "collection.json is missing" in info.output and "ingest" in info.output
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nOne small document.\n")
    ingest = CliRunner().invoke(ingest_app, [str(docs), "--data-dir", str(data), "--model", str(tiny_model_dir)])
    assert ingest.exit_code == 3, ingest.output
    assert "damaged" in ingest.output
    (folder / "collection.json").write_bytes(meta)  # the data was left alone: putting the metadata back restores it
    assert count(data) == 100


def test_metadata_without_its_data_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = filled(data)
    shutil.rmtree(folder / "shard")
    with pytest.raises(StoreDamagedError, match="shard/ folder\\) is missing"):
        open_collection(data_dir=data)


def test_an_empty_shard_left_by_a_crash_before_the_metadata_is_replaced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    folder = filled(data, n=0)
    (folder / "collection.json").unlink()  # as if killed between creating the shard and writing collection.json
    with open_collection(data_dir=data) as store:
        assert not store.exists()
        store.ensure("fp2", {"model": "other"}, 16)
        store.upsert(random_points(3, dim=16))
    assert count(data) == 3


@pytest.mark.parametrize("damage", ["truncated", "garbled", "not an object"])
def test_a_damaged_metadata_file_is_named_with_what_to_do(tmp_path: Path, damage: str) -> None:
    data = tmp_path / "data"
    folder = filled(data)
    meta = folder / "collection.json"
    text = meta.read_text()
    meta.write_bytes({"truncated": text[: len(text) // 2].encode(), "garbled": b"\xff\xfe\x00garbage",
                      "not an object": json.dumps([1, 2]).encode()}[damage])
    result = search_cli("info", "--data-dir", str(data))
    assert result.exit_code == 3, result.output
    flat = " ".join(result.output.split())
    assert "damaged" in flat and "collection.json" in flat and "move" in flat and "a bug" not in flat


BAD_NAMES = ["/tmp/v", "../../x", "..", ".", "a/b", "a\\b", "x" * 256, "a\0b", "a\nb", ""]


@pytest.mark.parametrize("name", BAD_NAMES, ids=range(len(BAD_NAMES)))
def test_a_collection_name_never_reaches_outside_the_data_folder(tmp_path: Path, name: str) -> None:
    from search.settings import Settings, SettingsError
    from search.validation import InvalidRequestError

    with pytest.raises(SettingsError, match="--collection"):  # flags and variables go through the settings
        Settings.load().override(store={"collection": name, "data": tmp_path / "data"})
    with pytest.raises(InvalidRequestError):  # the library entry point
        open_collection(data_dir=tmp_path / "data", collection=name)
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").rglob("*"))


def test_ingest_with_a_path_as_collection_deletes_nothing_and_writes_nowhere(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# A\n\nOne small document.\n")
    victim = tmp_path / "v"
    (victim / "shard").mkdir(parents=True)
    (victim / "shard" / "precious.txt").write_text("keep me")
    data = tmp_path / "sub" / "data"
    for name in (str(victim), "../../x"):
        result = CliRunner().invoke(ingest_app, [str(docs), "--data-dir", str(data), "--collection", name,
                                                 "--model", str(tiny_model_dir)])
        assert result.exit_code == 2, result.output
        assert "invalid collection name" in result.output
    assert (victim / "shard" / "precious.txt").read_text() == "keep me"
    assert not (tmp_path / "x").exists() and not (tmp_path / "sub" / "x").exists()
    monkeypatch.setenv("ECHO_SEARCH_COLLECTION", "../../x")
    info = search_cli("info", "--data-dir", str(data))
    assert info.exit_code == 2 and "ECHO_SEARCH_COLLECTION" in info.output


def test_the_ui_launcher_and_the_langchain_retriever_refuse_bad_collection_names() -> None:
    import typer
    from pydantic import ValidationError

    from search.langchain import EchoRetriever
    from ui.launch import run

    with pytest.raises(typer.BadParameter, match="invalid collection name"):
        run(collection="../x")
    with pytest.raises(ValidationError, match="invalid collection name"):
        EchoRetriever(collection="/tmp/v")


def test_a_nearly_full_disk_stops_ingest_with_exit_5_and_leaves_what_was_stored_intact(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil as real_shutil

    from search.store.edge import space

    docs, data = tmp_path / "docs", tmp_path / "data"
    docs.mkdir()
    for i in range(3):
        (docs / f"a{i}.md").write_text(f"# Note {i}\n\nFirst batch, text {i}.\n")
    args = [str(docs), "--data-dir", str(data), "--model", str(tiny_model_dir)]
    assert CliRunner().invoke(ingest_app, args).exit_code == 0
    before = count(data)
    for i in range(3):
        (docs / f"b{i}.md").write_text(f"# Later {i}\n\nSecond batch, text {i}.\n")
    usage = real_shutil.disk_usage(tmp_path)
    monkeypatch.setattr(space.shutil, "disk_usage", lambda path: usage._replace(free=10 << 20))  # 10 MiB free
    full = CliRunner().invoke(ingest_app, args)
    assert full.exit_code == 5, full.output
    flat = " ".join(full.output.split())
    assert "is full" in flat and "ECHO_SEARCH_MIN_FREE_MB" in flat and "Nothing was half-written" in flat
    info = search_cli("info", "--data-dir", str(data), "--json")  # reading needs no free space
    assert info.exit_code == 0 and json.loads(info.stdout)["points"] == before
    monkeypatch.undo()
    assert CliRunner().invoke(ingest_app, args).exit_code == 0  # space came back: the run finishes
    assert count(data) == before + 3
    help_text = CliRunner().invoke(ingest_app, ["--help"])
    assert "5 the disk holding the store is full" in " ".join(help_text.output.split())


@pytest.fixture
def small_disk(tmp_path: Path):
    """A 96 MiB tmpfs, so that a full disk is real; skipped where mounting is not allowed; always unmounted."""
    import os
    import subprocess

    if os.name != "posix" or os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96m", "tmpfs", str(mount)],
                      capture_output=True).returncode != 0:
        pytest.skip("mount -t tmpfs is not permitted here")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


READ = """
import sys, numpy as np
from search.store import open_collection
with open_collection(data_dir=sys.argv[1]) as store:
    hits = store.query({"echo": np.ones((1, 32), np.float32)}, k=3)["echo"][0]
    words = store.query({}, k=3, texts=["chunk 7"], rankings=["bm25"])["bm25"][0]  # the sparse pages, left sparse
    print(store.count(), len(hits), sum(1 for _ in store.records()), len(words))
"""
WRITE = """
import sys
from tests.store_helpers import random_points
from search.store import StoreFullError, open_collection
with open_collection(data_dir=sys.argv[1]) as store:
    try:
        store.upsert(random_points(500, seed=1))
    except StoreFullError as exc:
        print("refused:", exc)
"""


@pytest.mark.slow
def test_on_a_really_full_disk_reads_answer_and_writes_are_refused_without_sigbus(small_disk: Path) -> None:
    import os
    import subprocess
    import sys

    data = small_disk / "data"
    filled(data, n=500, min_free_mb=1)  # the disk is smaller than the default 256 MiB
    fd = os.open(small_disk / "filler", os.O_WRONLY | os.O_CREAT)
    try:  # fill the disk to the last block
        for size in (1 << 20, 4096):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    assert shutil.disk_usage(small_disk).free < 4096
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1]), "OMP_NUM_THREADS": "1"}

    def python(code: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                              cwd=env["PYTHONPATH"], timeout=300)

    info = python("from search.cli.app import main; main()", "info", "--data-dir", str(data), "--json")
    assert info.returncode == 0, (info.returncode, info.stderr)  # -7 was SIGBUS
    assert json.loads(info.stdout)["points"] == 500
    read = python(READ, str(data))
    assert read.returncode == 0 and read.stdout.split() == ["500", "3", "500", "3"], (read.returncode, read.stderr)
    write = python(WRITE, str(data))
    assert write.returncode == 0 and "refused:" in write.stdout and "is full" in write.stdout, write.stderr
    (small_disk / "filler").unlink()
    assert count(data) == 500


def _damage(folder: Path, kind: str) -> None:
    shard = folder / "shard"
    if kind == "garbled WAL":
        with (shard / "wal" / "open-1").open("r+b") as f:
            f.write(bytes(range(256)) * 16)
    elif kind == "garbled segment":
        next(shard.glob("segments/*/segment.json")).write_text("{garbage")
    elif kind == "truncated vectors":
        os.truncate(next(shard.glob("segments/*/vector_storage-echo/vectors/chunk_0.mmap")), 1000)
    elif kind == "truncated payloads":
        os.truncate(next(shard.glob("segments/*/payload_storage/page_0.dat")), 1000)
    elif kind == "garbled payloads":
        with next(shard.glob("segments/*/payload_storage/page_0.dat")).open("r+b") as f:
            f.write(b"\xff" * 4096)


@pytest.mark.parametrize("kind", ["garbled WAL", "garbled segment"])
def test_damage_found_at_open_names_the_collection_and_what_to_do(tmp_path: Path, kind: str) -> None:
    data = tmp_path / "data"
    _damage(filled(data), kind)
    result = search_cli("info", "--data-dir", str(data))
    assert result.exit_code == 3, result.output
    flat = " ".join(result.output.split())
    assert "is damaged" in flat and "move" in flat and "ingest" in flat and "search restore" in flat


@pytest.mark.parametrize("kind", ["truncated vectors", "truncated payloads"])
def test_a_truncated_data_file_is_found_when_the_collection_opens(tmp_path: Path, kind: str) -> None:
    data = tmp_path / "data"
    _damage(filled(data), kind)
    result = search_cli("info", "--data-dir", str(data))  # was exit 0: opening read none of these files
    assert result.exit_code == 3, result.output
    assert "is damaged" in " ".join(result.output.split())
    with pytest.raises(StoreDamagedError, match="shorter than its recorded contents"):
        open_collection(data_dir=data)


def test_damage_inside_a_data_file_is_found_by_info_check_and_named_at_query_time(tmp_path: Path) -> None:
    data = tmp_path / "data"
    _damage(filled(data), "garbled payloads")
    assert search_cli("info", "--data-dir", str(data)).exit_code == 0  # the sizes are right: opening reads no more
    checked = search_cli("info", "--check", "--data-dir", str(data))
    assert checked.exit_code == 3, checked.output
    assert "is damaged" in " ".join(checked.output.split())
    with open_collection(data_dir=data) as store:
        with pytest.raises(StoreDamagedError, match="cannot be read"):  # was a bare engine Exception: "a bug"
            store.query({"echo": np.ones((1, DIM), np.float32), "classical": np.ones((1, DIM), np.float32)}, k=100)
        with pytest.raises(StoreDamagedError, match="cannot be read"):
            list(store.records())


def test_info_check_reads_every_point_of_a_sound_collection(tmp_path: Path) -> None:
    data = tmp_path / "data"
    filled(data, n=1234)
    result = search_cli("info", "--check", "--json", "--data-dir", str(data))
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["checked_points"] == 1234


def test_backup_then_restore_over_a_damaged_collection(tmp_path: Path) -> None:
    data, saved = tmp_path / "data", tmp_path / "backups" / "docs-1"
    folder = filled(data, n=100)
    backed = search_cli("backup", str(saved), "--data-dir", str(data))
    assert backed.exit_code == 0, backed.output

    def used(path: Path) -> int:
        return sum(p.stat().st_blocks * 512 for p in path.rglob("*") if p.is_file())

    assert used(saved) <= used(folder)  # copied sparsely: the engine's preallocated files stay holes
    assert count(data) == 100  # the store is usable after the backup
    (folder / "collection.json").unlink()  # damage: refused from now on
    assert search_cli("info", "--data-dir", str(data)).exit_code == 3
    refused = search_cli("restore", str(saved), "--data-dir", str(data))
    assert refused.exit_code == 3 and "--replace" in refused.output
    restored = search_cli("restore", str(saved), "--data-dir", str(data), "--replace")
    assert restored.exit_code == 0, restored.output
    assert count(data) == 100
    kept = [p.name for p in (data / "qdrant" / "collections").iterdir() if p.name.startswith("docs.replaced-")]
    assert len(kept) == 1  # the damaged one is moved aside, not deleted
    copy = search_cli("restore", str(saved), "--data-dir", str(tmp_path / "other"), "--collection", "copy")
    assert copy.exit_code == 0, copy.output
    with open_collection(data_dir=tmp_path / "other", collection="copy") as store:
        assert store.count() == 100 and store.fingerprint() == "fp"
    again = search_cli("backup", str(saved), "--data-dir", str(data))
    assert again.exit_code == 3 and "already exists" in again.output
    not_a_backup = search_cli("restore", str(tmp_path), "--data-dir", str(data))
    assert not_a_backup.exit_code == 3 and "not a backup" in not_a_backup.output
