"""The house rules of imports, read from the code (every import, at module level or inside a function): packages
point one way, ui -> ingest -> search -> embedder; inside `search`, the store is below the query side, which is
below the service and the commands; the UI asks the query side, never the store; only the store speaks Qdrant and
only the embedder speaks torch and transformers."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("embedder", "ingest", "search", "ui")

# (a module whose name starts with this, may not import a module whose name starts with any of these)
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("embedder", ("search", "ingest", "ui")),
    ("search", ("ingest", "ui")),
    ("ingest", ("ui",)),
    ("search.store", ("search.query", "search.service", "search.cli", "search.evaluation", "search.langchain",
                      "search.settings", "search.errors", "search.mcp")),
    ("search.query", ("search.service", "search.cli", "search.evaluation", "search.langchain", "search.mcp")),
    ("search.service", ("search.cli", "search.evaluation", "search.mcp")),
    ("search.settings", ("search.query", "search.service", "search.cli")),
    ("ui", ("search.store", "torch", "transformers", "embedder.encoder", "embedder.loading")),
)
SPEAKS = {"qdrant_client": "search.store", "qdrant_edge": "search.store", "torch": "embedder",
          "transformers": "embedder"}
"""Outside systems and the one package that may import each."""
EXCEPTIONS = {"search.evaluation.bidirectional"}
"""Known to break a rule, with the reason: `search eval`'s bidirectional baseline runs a causal LM without its causal
mask by reaching into transformers' attention (to move into the embedder)."""


def imports() -> dict[str, set[str]]:
    """{module: the modules it imports} for every module of the product."""
    found: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            names: set[str] = set()
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Import):
                    names.update(alias.name for alias in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names.add(node.module)
                    names.update(f"{node.module}.{alias.name}" for alias in node.names)
            found[name] = names
    return found


def _under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def test_packages_and_layers_point_one_way() -> None:
    broken = sorted(
        f"{module} imports {name}"
        for module, names in imports().items()
        for prefix, forbidden in RULES if _under(module, prefix)
        for name in names for banned in forbidden if _under(name, banned)
    )
    assert not broken, "\n".join(broken)


def test_only_the_store_speaks_qdrant_and_only_the_embedder_speaks_torch() -> None:
    broken = sorted(
        f"{module} imports {name}"
        for module, names in imports().items() if module not in EXCEPTIONS
        for name in names for system, owner in SPEAKS.items()
        if _under(name, system) and not _under(module, owner)
    )
    assert not broken, "\n".join(broken)


def test_the_rules_see_real_imports() -> None:
    """The reader finds imports inside functions too (a rule it could not see would hold by accident)."""
    found = imports()
    assert "search.store.edge.holder" in found["search.query.backend"]  # imported inside `holder_url`
    assert "ingest.handover.RUN_HEADER" in found["ingest.service"] or "ingest.handover" in found["ingest.service"]
