"""End to end with the real default model: an ingested folder, searched in process and through the service."""

from __future__ import annotations

import httpx
import pytest

from search.query.remote import HttpSearcher
from search.query.request import SearchQuery
from search.query.searcher import Searcher
from search.service.app import create_app
from search.store import open_collection
from tests.search_helpers import running

pytestmark = pytest.mark.slow

FILES = {
    "kitchen/kettle.md": (
        "# Kettle care\n\nHard water leaves a white crust of limescale inside a kettle. To descale it, fill it "
        "halfway with equal parts water and white vinegar, bring it to the boil, leave it for an hour, then "
        "rinse it three times with clean water.\n\nA kettle should never be switched on empty."
    ),
    "kitchen/bread.md": (
        "# Bread\n\nKnead the dough for ten minutes until it is smooth and springs back. Let it rise in a warm "
        "place under a damp cloth until it has doubled, about an hour.\n\nBake at 220 degrees for thirty minutes."
    ),
    "garden/tomatoes.md": (
        "# Tomatoes\n\nTomatoes need six to eight hours of direct sun. Water them deeply twice a week rather "
        "than a little every day.\n\nPinch out the side shoots so the plant puts its energy into fruit."
    ),
    "bikes/chain.md": (
        "# Chain care\n\nA squeaking chain needs cleaning: scrub it with degreaser, dry it, then put one drop "
        "of oil on each link and wipe off the excess.\n\nReplace the chain when it has stretched by half a percent."
    ),
    "money/taxes.txt": (
        "Keep receipts for five years. Self-employed people pay tax in two instalments, in January and July, "
        "and must file a return before the end of January.\n\nLate filing costs a fixed penalty."
    ),
}
QUESTION = "How do I get limescale out of my kettle?"


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory, real_embedder) -> Searcher:
    from ingest import IngestOptions, ingest_paths

    root = tmp_path_factory.mktemp("integration")
    docs = root / "docs"
    for name, text in FILES.items():
        (docs / name).parent.mkdir(parents=True, exist_ok=True)
        (docs / name).write_text(text)
    store = open_collection(path=root / "qdrant")
    report = ingest_paths(IngestOptions(paths=[docs], chunk_tokens=48), store, real_embedder)
    assert all(f.status == "added" for f in report.files), report.files
    yield Searcher(store=store, embedder=real_embedder)
    store.close()


def _is_answer(source: str, text: str) -> bool:
    return source.endswith("kettle.md") and "vinegar" in text


def test_the_chunk_holding_the_answer_ranks_first_for_echo(searcher: Searcher) -> None:
    assert searcher.info().points > len(FILES)  # several chunks per file: the test picks one chunk, not a file
    result = searcher.search(SearchQuery(QUESTION, k=5))
    top = result.echo[0]
    assert _is_answer(top.source, top.text), [(h.source, h.text[:40]) for h in result.echo]
    assert len(result.classical) == 5
    assert result.timings["embed_ms"] > 0


def test_the_service_with_the_real_model_gives_the_same_ranking(searcher: Searcher) -> None:
    in_process = searcher.search(SearchQuery(QUESTION, k=5))
    with running(create_app(searcher)) as url:
        data = httpx.post(f"{url}/search", json={"query": QUESTION, "k": 5}, timeout=60).json()
        assert _is_answer(data["echo"][0]["source"], data["echo"][0]["text"])
        assert [h["id"] for h in data["echo"]] == [h.id for h in in_process.echo]
        with HttpSearcher(url) as remote:
            remote_echo = remote.search(SearchQuery(QUESTION, k=5, mode="echo")).echo
            assert [h.id for h in remote_echo] == [h.id for h in in_process.echo]
