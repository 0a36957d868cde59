"""Short excerpts of a chunk for display (the `search` table and the UI) and the query words worth showing."""

from __future__ import annotations

import re
from collections.abc import Sequence

# Words too common to be worth centring on or highlighting.
STOPWORDS = frozenset({
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how", "in", "is", "it",
    "of", "on", "or", "that", "the", "this", "to", "was", "what", "when", "where", "which", "who", "why", "with",
    "you", "your",
})


def query_terms(query: str) -> list[str]:
    """The words of `query` worth highlighting: lower-cased, no stopwords or single letters, longest first."""
    words = {w.lower() for w in re.findall(r"\w+", query)}
    return sorted((w for w in words if len(w) > 1 and w not in STOPWORDS), key=lambda w: (-len(w), w))


def terms_pattern(terms: Sequence[str]) -> re.Pattern[str] | None:
    """A pattern matching words that start with one of `terms` (None when there are none)."""
    if not terms:
        return None
    return re.compile(r"\b(" + "|".join(re.escape(t) for t in terms) + r")\w*", re.IGNORECASE)


def snippet(text: str, query: str = "", width: int = 320) -> str:
    """About `width` characters of `text` (whitespace collapsed) around the first query word (from the start
    without one), ending at a word boundary, with '…' marks."""
    flat = " ".join(text.split())
    if len(flat) <= width:
        return flat
    pattern = terms_pattern(query_terms(query))
    match = pattern.search(flat) if pattern else None
    start = 0 if match is None else max(0, match.start() - width // 3)
    if start > 0:  # begin at a word boundary
        space = flat.find(" ", start)
        start = space + 1 if 0 <= space < match.start() else start  # type: ignore[union-attr]
    end = min(len(flat), start + width)
    if end < len(flat):
        space = flat.rfind(" ", start, end)
        end = space if space > start else end
    return ("…" if start > 0 else "") + flat[start:end] + ("…" if end < len(flat) else "")
