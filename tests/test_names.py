"""One meaning per name: `Collection` is the store's class (`search.store.Collection`), "backend" is
`search.query.backend.SearchBackend` (what a search is answered by), and a test module imports helper modules, never
another test module. Checks of the source text: nothing is imported or run."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("embedder", "ingest", "search", "ui", "bench", "tests")
STORE_CLASS_HOMES = {"search.store", "search.store.collection"}
TEST_IMPORT = re.compile(r"^\s*(?:from|import)\s+(?:tests\.)?test_\w+", re.MULTILINE)


def sources() -> dict[str, str]:
    return {str(p.relative_to(ROOT)): p.read_text() for package in PACKAGES for p in (ROOT / package).rglob("*.py")}


def misnamed(source: str, path: str = "") -> list[str]:
    """What in `source` gives a second meaning to a name: the store package imported as a module name (`from
    search import store as stores`), a `Collection` that is not the store's class, a class named like a backend
    other than `SearchBackend`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if node.module == "search" and alias.name == "store":
                    found.append(f"line {node.lineno}: the store package imported as a name")
                if "Collection" in (alias.name, alias.asname) and node.module not in STORE_CLASS_HOMES:
                    found.append(f"line {node.lineno}: Collection from {node.module}")
        elif isinstance(node, ast.Import):
            found += [f"line {node.lineno}: import {a.name} as {a.asname}" for a in node.names
                      if a.name == "search.store" and a.asname]
        elif isinstance(node, ast.ClassDef):
            if "Backend" in node.name and node.name != "SearchBackend":
                found.append(f"line {node.lineno}: class {node.name}")
            if node.name == "Collection" and path != "search/store/collection.py":
                found.append(f"line {node.lineno}: class Collection")
        elif isinstance(node, ast.Assign):
            found += [f"line {node.lineno}: Collection = ..." for t in node.targets
                      if isinstance(t, ast.Name) and t.id == "Collection"]
    return found


def test_the_checks_find_what_they_look_for() -> None:
    for spelled in ("from search import store as stores", "from search import store", "import search.store as s",
                    "from collections.abc import Collection", "from typing import Collection",
                    "Collection = Annotated[str, 1]", "class Collection: pass", "class Backend: pass",
                    "class EdgeBackend: pass"):
        assert misnamed(spelled), spelled
    assert not misnamed("from search.store import Collection, open_collection\nimport search.store\n"
                        "from search.query.backend import SearchBackend\nclass SharedSearcher: pass")
    assert TEST_IMPORT.search("import os\nfrom tests.test_ingest import points\n")
    assert TEST_IMPORT.search("    import tests.test_store_safety\n")
    assert not TEST_IMPORT.search("from tests.ingest_helpers import by_status\n")


def test_each_name_has_one_meaning() -> None:
    offenders = {path: found for path, source in sources().items() if (found := misnamed(source, path))}
    assert offenders == {}


def test_no_test_module_imports_another() -> None:
    """Shared helpers live in helper modules (`tests/*_helpers.py`, `tests/*_fixtures.py`, `conftest.py`), not in a
    test file that another one, or a test's child process, has to import."""
    offenders = sorted(path for path, source in sources().items() if path.startswith("tests/")
                       and TEST_IMPORT.search(source))
    assert offenders == []


def test_the_search_commands_modes_are_the_query_sides_modes() -> None:
    """The rankings are defined once (`search.query.results.MODES`): the command offers exactly those."""
    from search.cli.ask import SearchMode
    from search.query.results import MODES

    assert sorted(mode.value for mode in SearchMode) == sorted(MODES)
