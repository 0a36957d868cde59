"""The UI in a real browser: `streamlit run` on loopback, Debian Chromium driven by Playwright, real model.

Saves a screenshot to test-artifacts/ui.png. Skips only when Chromium cannot be found even after
`python -m tests.browser_setup` tried to install it.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from search.store import CLASSICAL, ECHO, ChunkPoint, ChunkRecord, open_collection, point_id
from tests.search_helpers import free_port, serving_streamlit

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = ROOT / "test-artifacts"
K = 5

DOCS = {
    "sourdough.md": [
        "Sourdough bread is leavened by a starter of wild yeast and lactic acid bacteria instead of baker's yeast.",
        "To bake sourdough, mix flour, water, salt and active starter, let the dough rise overnight, shape it and "
        "bake it in a hot Dutch oven for about forty minutes.",
    ],
    "herons.md": [
        "The grey heron nests in colonies called heronries, usually high in tall trees close to lakes and rivers.",
        "Herons hunt fish and frogs by standing motionless in shallow water and striking with their long bill.",
    ],
    "python-packaging.md": [
        "A pyproject.toml file declares a Python project's build backend, its dependencies and its console scripts.",
        "Install a package in editable mode with pip install -e . so that changes to the source apply at once.",
    ],
    "tides.md": [
        "Tides are caused by the gravitational pull of the Moon and the Sun on the Earth's oceans.",
        "Spring tides, with the largest range, happen at new and full moon when Sun and Moon line up.",
    ],
    "bicycle-repair.md": [
        "To fix a flat bicycle tyre, remove the wheel, lever the tyre off the rim and find the hole in the tube.",
        "Patch the inner tube or replace it, check the tyre for thorns, then reinflate to the sidewall pressure.",
    ],
    "coffee.md": [
        "Espresso is brewed by forcing hot water through finely ground coffee under about nine bars of pressure.",
        "A pour-over uses a paper filter and a slow spiral of water over medium-fine grounds for a clean cup.",
    ],
}
QUESTION = "how do I bake bread at home"


def find_chromium() -> Path | None:
    if not CHROMIUM.exists():
        subprocess.run([sys.executable, "-m", "tests.browser_setup"], cwd=ROOT, check=False, timeout=900)
    return CHROMIUM if CHROMIUM.exists() else None


def build_collection(data: Path, docs: Path, embedder) -> None:
    """Write DOCS as files and their paragraphs as chunks embedded by the real model."""
    docs.mkdir(parents=True)
    store = open_collection(path=data / "qdrant", collection="browser")
    try:
        store.ensure(embedder.fingerprint, embedder.describe(), embedder.dim)
        for name, paragraphs in DOCS.items():
            path = docs / name
            path.write_text("\n\n".join(paragraphs))
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            vectors = embedder.encode(paragraphs, kind="document")
            store.upsert([
                ChunkPoint(point_id(str(path), i, digest), {ECHO: vectors.echo[i], CLASSICAL: vectors.classical[i]},
                           ChunkRecord(str(path), i, text, content_hash=digest))
                for i, text in enumerate(paragraphs)
            ])
    finally:
        store.close()


@pytest.fixture
def server(tmp_path: Path, real_embedder) -> Iterator[str]:
    """`streamlit run ui/app.py` on a free loopback port over a fresh collection; always stopped afterwards."""
    build_collection(tmp_path / "data", tmp_path / "docs", real_embedder)
    port = free_port()
    env = {**os.environ, "ECHO_SEARCH_DATA": str(tmp_path / "data"), "ECHO_SEARCH_COLLECTION": "browser",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    for name in ("SEARCH_URL", "QDRANT_URL", "ECHO_SEARCH_MODEL"):
        env.pop(name, None)
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "ui" / "app.py"), "--server.headless", "true",
               "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false",
               "--client.toolbarMode", "minimal"]
    url = f"http://127.0.0.1:{port}"
    with serving_streamlit(command, env, tmp_path / "streamlit.log", url, timeout=60):
        yield url


OWN_TEXT = (
    r"echo-search", r"Two rankings of one collection side by side, all from the same model: echo and classical "
    r"embeddings, BM25, hybrid, and the model's rerank\.",
    r"Question", r"k", r"Left column", r"Right column", r"Advanced", r"Instruction \(query template\)",
    r"Only these sources", r"\d+ chunks from \d+ files are ready to search\.",
)
"""Every text the page's main area shows before a question: the app's own elements, nothing Streamlit's "magic"
rendered from a bare string of the script."""


def assert_only_own_text(page) -> None:  # noqa: ANN001 - a Playwright Page
    texts = page.locator("[data-testid='stMain'] [data-testid='stMarkdownContainer']").all_inner_texts()
    stray = [text for text in (t.strip() for t in texts) if text and not any(re.fullmatch(own, text)
                                                                             for own in OWN_TEXT)]
    assert not stray, f"text outside the app's own elements: {stray}"


def upload_through_the_sidebar(page, tmp_path: Path) -> None:  # noqa: ANN001 - a Playwright Page
    """Upload one file with the real upload widget, ingest it, and see the collection grow."""
    from playwright.sync_api import expect

    note = tmp_path / "Kettle care (v2).md"
    note.write_text("# Kettle\n\nTo descale a kettle, boil water with white vinegar, then rinse it three times.\n")
    page.locator("[data-testid='stSidebar'] input[type='file']").set_input_files(str(note))
    page.get_by_role("button", name="Ingest").click()
    expect(page.get_by_text("1 added")).to_be_visible(timeout=120_000)
    expect(page.locator("[data-testid='stSidebar']").get_by_text("7 files")).to_be_visible()
    assert (tmp_path / "data" / "uploads" / "Kettle care (v2).md").exists()  # the name is kept


def wait_for_run(page) -> None:  # noqa: ANN001 - a Playwright Page
    """Wait until the script run has ended: until then the page may still show elements of the drawing it
    replaces (Streamlit removes those when the run ends)."""
    from playwright.sync_api import expect

    expect(page.locator("[data-testid='stApp']")).to_have_attribute("data-test-script-state", "notRunning",
                                                                    timeout=120_000)


def assert_lists_answer(page, columns: tuple[str, str]) -> None:  # noqa: ANN001 - a Playwright Page
    """Each column lists exactly K hits ranked 1..K, with the bread document (which answers the question) in its
    top 2."""
    for column in columns:
        hits = [page.locator(f".st-key-hit-{column}-{rank}").inner_text() for rank in range(1, K + 1)]
        assert all(f"#{rank}" in hit for rank, hit in enumerate(hits, start=1))
        assert not page.locator(f".st-key-hit-{column}-{K + 1}").count()
        assert any("sourdough.md" in hit for hit in hits[:2]), (column, hits)


@pytest.mark.slow
@pytest.mark.browser
def test_question_in_a_real_browser(server: str, tmp_path: Path) -> None:
    chromium = find_chromium()
    if chromium is None:
        pytest.skip(f"{CHROMIUM} not found, and `python -m tests.browser_setup` could not install it")
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2400})
            page.goto(server)
            box = page.get_by_label("Question")
            expect(box).to_be_visible(timeout=120_000)  # the first page load also loads the model
            assert_only_own_text(page)
            k_box = page.get_by_label("k", exact=True)
            k_box.fill(str(K))
            k_box.press("Enter")
            box.fill(QUESTION)
            box.press("Enter")
            # the packaged model can rerank: Echo | Rerank by default (the hybrid stands in while the model reads)
            for column in ("echo", "rerank"):
                expect(page.locator(f".st-key-hit-{column}-{K}")).to_be_visible(timeout=120_000)
            wait_for_run(page)
            assert not page.locator("[class*='st-key-early-hit']").count()  # the stand-in is gone
            assert_lists_answer(page, ("echo", "rerank"))
            expect(page.locator("mark", has_text="bake").first).to_be_visible()
            expect(page.get_by_text("Overlap of the top k")).to_be_visible()  # once: strict mode fails on two
            expect(page.get_by_text("Rerank", exact=True).first).to_be_visible()
            page.wait_for_timeout(500)  # let the charts finish drawing
            page.screenshot(path=str(ARTIFACTS / "ui.png"), full_page=True)
            assert not page.locator("[data-testid='stException']").count()
            # the right column shows classical, then the hybrid ranking (echo and BM25 fused), instead
            for label in ("Classical", "Hybrid"):
                page.get_by_role("combobox", name="Right column").click()
                page.get_by_role("option", name=label).click()
                expect(page.locator(f".st-key-hit-{label.lower()}-{K}")).to_be_visible(timeout=60_000)
                wait_for_run(page)
                assert not page.locator(".st-key-hit-rerank-1").count()
                assert_lists_answer(page, ("echo", label.lower()))
            assert not page.locator(".st-key-hit-classical-1").count()
            assert not page.locator("[data-testid='stException']").count()
            upload_through_the_sidebar(page, tmp_path)
        finally:
            browser.close()
