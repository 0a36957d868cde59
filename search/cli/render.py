"""Terminal and JSON renderings of search results and collection info for the `search` command."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from rich import box
from rich.table import Table
from rich.text import Text

from search.query.calibration import strength
from search.query.results import RANKINGS_OF, Hit, SearchResult
from search.query.snippets import snippet
from search.store import CollectionInfo


def result_json(query: str, mode: str, result: SearchResult) -> str:
    """The result as JSON for scripts (same shape as the HTTP service's answer)."""
    return json.dumps(
        {"query": query, "mode": mode, "echo": [asdict(h) for h in result.echo],
         "classical": [asdict(h) for h in result.classical], "bm25": [asdict(h) for h in result.bm25],
         "hybrid": [asdict(h) for h in result.hybrid], "rerank": [asdict(h) for h in result.rerank],
         "timings": result.timings},
        ensure_ascii=False, indent=2, default=str,
    )


def printable(text: str) -> str:
    """`text` with control characters (newline, tab, escape, ...) written as escapes, e.g. `\\n`: one table cell
    stays one line, and a file name cannot move the cursor or recolour the terminal."""
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def _where(hit: Hit) -> Text:
    return Text(f"{printable(Path(hit.source).name)}#{hit.chunk_index}")


def score_cell(hit: Hit) -> str:
    """The cosine, and the calibrated z with its word where there is one ("0.962 z 4.1 strong")."""
    return f"{hit.score:.3f}" + (f" z {hit.z:.1f} {strength(hit.z)}" if hit.z is not None else "")


STYLES = {"echo": "cyan", "classical": "magenta", "bm25": "green", "hybrid": "yellow", "rerank": "blue"}


def result_table(result: SearchResult, mode: str) -> Table:
    """Rank, score, source and snippet (the passage's start: a table cell shows only its beginning); echo and
    classical side by side when both were searched."""
    kinds = list(RANKINGS_OF[mode])
    table = Table(box=box.SIMPLE_HEAD, expand=True, pad_edge=False)
    table.add_column("#", justify="right", style="bold")
    for kind in kinds:
        table.add_column(kind, justify="right", style=STYLES[kind], no_wrap=True)
        table.add_column("source", no_wrap=True, overflow="ellipsis", max_width=24)
        table.add_column("snippet", no_wrap=True, overflow="ellipsis", ratio=1, min_width=12)
    columns = [result.ranking(kind) for kind in kinds]
    for i in range(max(len(c) for c in columns)):
        row: list[str | Text] = [str(i + 1)]
        for hits in columns:
            hit = hits[i] if i < len(hits) else None
            row += [score_cell(hit), _where(hit), Text(snippet(hit.text, width=300))] if hit else ["", "", ""]
        table.add_row(*row)
    ms = result.timings
    table.caption = f"embed {ms.get('embed_ms', 0):.0f} ms, search {ms.get('search_ms', 0):.0f} ms" + (
        f", rerank {ms['rerank_ms']:.0f} ms" if "rerank_ms" in ms else "")
    return table


def info_table(info: CollectionInfo) -> Table:
    """The collection's name, location, size and embedder."""
    table = Table(box=box.SIMPLE, show_header=False)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("collection", info.name)
    table.add_row("location", info.location)
    table.add_row("chunks", str(info.points))
    table.add_row("files", str(info.files))
    if info.points:
        table.add_row("index", f"{info.index}: {info.indexed_vectors} of {info.points * 2} vectors in an HNSW graph, "
                               f"{info.segments} segment(s)")
    table.add_row("fingerprint", info.fingerprint or "(empty: nothing ingested)")
    for key, value in info.embedder.items():
        table.add_row(f"  {key}", str(value))
    return table
