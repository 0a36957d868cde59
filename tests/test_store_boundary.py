"""The store's boundary: only `search.store` knows the payload layout, and its types import no Qdrant package."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from search.store import ChunkRecord
from search.store import schema as store_schema

ROOT = Path(__file__).resolve().parents[1]
KEY_CONSTANTS = {"SOURCE", "CHUNK_INDEX", "TEXT", "CONTENT_HASH", "TITLE", "PAGE", "N_CHUNKS", "CHUNKER"}
KEYS = {getattr(store_schema, name) for name in KEY_CONSTANTS}
RAW_METHODS = {"payloads", "_payloads", "set_payload", "_set_payload"}


def _named_payload(node: ast.expr) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return "payload" in name.lower()


def _key(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value in KEYS


def _plumbing(node: ast.AST) -> bool:
    if isinstance(node, ast.alias):
        return node.name in KEY_CONSTANTS
    if isinstance(node, ast.Name):
        return node.id in KEY_CONSTANTS
    if isinstance(node, ast.Attribute):
        return node.attr in KEY_CONSTANTS | RAW_METHODS
    if isinstance(node, ast.Subscript):
        return _named_payload(node.value) and _key(node.slice)
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
            and _named_payload(node.func.value) and bool(node.args) and _key(node.args[0]))


def payload_plumbing(source: str) -> list[int]:
    """Lines that spell a payload key constant, call a raw payload method, or read a payload key from a value named
    like a payload (`payload["page"]`, `hit.payload.get("title")`)."""
    return sorted({getattr(node, "lineno", 0) for node in ast.walk(ast.parse(source)) if _plumbing(node)})


def test_no_module_outside_the_store_reads_or_writes_payload_keys() -> None:
    store_package = ROOT / "search" / "store"
    files = [path for package in ("embedder", "ingest", "search", "ui") for path in (ROOT / package).rglob("*.py")
             if store_package not in path.parents]
    assert payload_plumbing((store_package / "collection.py").read_text())  # the check does find them
    for spelled in ('payload.get("page")', 'hit.payload["title"]', "from search.store.schema import TITLE",
                    "store.set_payload({}, [])", "store.payloads()"):
        assert payload_plumbing(spelled), spelled
    assert not payload_plumbing('row["text"]; body.get("detail"); hit.record.title')
    offenders = {str(p.relative_to(ROOT)): found for p in files if (found := payload_plumbing(p.read_text()))}
    assert offenders == {}


def test_a_record_is_stored_under_the_schema_keys() -> None:
    record = ChunkRecord("/d/a.md", 2, "text", content_hash="h", title="T", page=3, n_chunks=4, chunker="v1/200")
    assert set(record.as_dict()) == KEYS
    assert ChunkRecord.from_dict({**record.as_dict(), "unknown": 1}) == record
    assert ChunkRecord.from_dict({"source": "/d/a.md", "chunk_index": 2, "text": "t"}) == ChunkRecord("/d/a.md", 2, "t")
    assert "text" not in record.metadata() and record.metadata()["page"] == 3


def test_results_the_http_client_and_the_ui_searcher_import_no_qdrant_package() -> None:
    code = (
        "import sys\n"
        "import search.query.remote, search.query.results, ui.shared_searcher, ui.compare\n"
        "from search.store import QueryFilter\n"
        "QueryFilter.parse(['/docs/a.md'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('qdrant')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
