"""The LangChain tests' fixture folder: four short documents on unrelated topics, and a collection built from them."""

from __future__ import annotations

from pathlib import Path

from embedder import Embedder
from ingest.chunking import DEFAULT_CHUNK_TOKENS
from ingest.options import IngestOptions
from ingest.pipeline import ingest_paths
from search.store import open_collection

FIXTURE_FILES = {
    "baking/sourdough.md": (
        "# Sourdough\n\n"
        "Feed the sourdough starter every day with equal weights of flour and water, and keep it warm.\n\n"
        "A starter is ready when it doubles within six hours of a feeding and smells pleasantly sour.\n\n"
        "Bake the loaf in a preheated Dutch oven at 250 degrees for twenty minutes with the lid on."
    ),
    "garden/bees.txt": (
        "Honeybees pollinate fruit trees and live in hives of tens of thousands of workers around one queen.\n\n"
        "Beekeepers harvest honey in late summer and leave enough stores for the colony to survive the winter.\n\n"
        "A swarm is half of a colony leaving with the old queen to found a new hive somewhere else."
    ),
    "ops/kubernetes.md": (
        "# Kubernetes\n\n"
        "A Deployment keeps a set of identical pods running and replaces pods that crash.\n\n"
        "Use kubectl rollout undo to return a Deployment to its previous revision after a bad release.\n\n"
        "A Service gives a stable name and address to the changing set of pods behind it."
    ),
    "space/mars.md": (
        "# Mars\n\n"
        "Mars is the fourth planet from the Sun; its red colour comes from iron oxide dust on the surface.\n\n"
        "Olympus Mons on Mars is the tallest volcano in the solar system.\n\n"
        "Mars has two small moons, Phobos and Deimos, which may be captured asteroids."
    ),
}


def write_fixture_folder(folder: Path) -> Path:
    """The fixture documents as files under `folder`."""
    for name, text in FIXTURE_FILES.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return folder


def build_collection(root: Path, embedder: Embedder, chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> Path:
    """Ingest the fixture folder `root/docs` into collection "docs" of the embedded store `root/qdrant`."""
    write_fixture_folder(root / "docs")
    store = open_collection(path=root / "qdrant", collection="docs")
    try:
        report = ingest_paths(IngestOptions(paths=[root / "docs"], chunk_tokens=chunk_tokens), store, embedder)
    finally:
        store.close()
    assert [f.status for f in report.files] == ["added"] * len(FIXTURE_FILES), report
    return root / "qdrant"
