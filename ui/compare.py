"""Pure functions behind the side-by-side view: rank movement, overlap, rank correlation, highlighting."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any, Protocol, cast

from scipy.stats import spearmanr

from search.query.results import Hit, Mode
from search.query.snippets import query_terms, terms_pattern


class RankedHit(Protocol):
    """What these functions need of a hit (`search.query.searcher.Hit` and the HTTP client's hits have it)."""

    rank: int
    id: str


@dataclass(frozen=True)
class Movement:
    """Where a hit of one list stands in the other list.

    `other_rank` is None when the chunk is not in the other top-k. `delta` > 0 means this list ranks it `delta`
    places higher (better) than the other list does.
    """

    rank: int
    other_rank: int | None

    @property
    def delta(self) -> int | None:
        return None if self.other_rank is None else self.other_rank - self.rank

    def marker(self, other_name: str) -> str:
        """A short label, e.g. '▲ 3 · classical #5', '▼ 2 · echo #3', '= · echo #1', '● only here'."""
        if self.other_rank is None:
            return "● only here"
        delta = self.delta or 0
        arrow = "=" if delta == 0 else f"▲ {delta}" if delta > 0 else f"▼ {-delta}"
        return f"{arrow} · {other_name} #{self.other_rank}"


def movements(hits: Sequence[RankedHit], other: Sequence[RankedHit]) -> list[Movement]:
    """For every hit of `hits`, in order, its rank in `other` (matched by chunk id)."""
    other_rank = {h.id: h.rank for h in other}
    return [Movement(h.rank, other_rank.get(h.id)) for h in hits]


def overlap(a: Sequence[RankedHit], b: Sequence[RankedHit]) -> int:
    """How many chunks the two lists share."""
    return len({h.id for h in a} & {h.id for h in b})


def rank_correlation(a: Sequence[RankedHit], b: Sequence[RankedHit]) -> float | None:
    """Spearman correlation of the two lists' ranks of the chunks they share (None when fewer than two are shared:
    no correlation to speak of)."""
    rank_b = {h.id: h.rank for h in b}
    pairs = [(h.rank, rank_b[h.id]) for h in a if h.id in rank_b]
    if len(pairs) < 2:
        return None
    ranks_a, ranks_b = zip(*pairs, strict=True)
    return float(spearmanr(ranks_a, ranks_b).statistic)


def highlight(text: str, query: str) -> str:
    """`text` HTML-escaped, with words starting with a query word wrapped in <mark>."""
    pattern = terms_pattern(query_terms(query))
    if pattern is None:
        return html.escape(text)
    out, last = [], 0
    for m in pattern.finditer(text):
        out += [html.escape(text[last : m.start()]), f"<mark>{html.escape(m.group(0))}</mark>"]
        last = m.end()
    out.append(html.escape(text[last:]))
    return "".join(out)


def source_label(source: str, title: str | None = None, page: int | None = None) -> str:
    """File name plus page or section when known, e.g. 'guide.pdf · p. 3' or 'notes.md · Installation'."""
    label = PurePath(source).name or source or "(unknown source)"
    if page is not None:
        label += f" · p. {page}"
    elif title:
        label += f" · {title}"
    return label


def hit_label(hit: Hit) -> str:
    """`source_label` of a hit's chunk."""
    record = hit.record
    return source_label(record.source, record.title, record.page)


RANKING_LABELS = {"echo": "Echo", "classical": "Classical", "bm25": "BM25", "hybrid": "Hybrid", "rerank": "Rerank"}
"""The rankings a column can show, by their name in `SearchResult`, with their titles."""


def search_mode(left: str, right: str) -> Mode:
    """The search mode that fills the rankings `left` and `right` (not rerank: the UI asks for it apart) with the
    least work: echo and classical need the model's two vectors, bm25 none, hybrid echo's and BM25."""
    shown = {left, right}
    if shown <= {"echo", "classical"}:
        return "both"
    if len(shown) == 1:
        return cast(Mode, left)
    return "all"


def chart_rows(*lists: tuple[str, Sequence[Hit]]) -> list[dict[str, Any]]:
    """Long-format rows for the charts: one per (list, hit) with rank, score and the chunk id and label; `lists` are
    (title, hits) pairs."""
    return [
        {"list": name, "rank": h.rank, "score": h.score, "chunk": h.id, "source": hit_label(h)}
        for name, hits in lists
        for h in hits
    ]
