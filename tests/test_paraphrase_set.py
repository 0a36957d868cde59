"""The paraphrase dev set: high-score STS-B pairs whose content words differ, never the test split."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pytest

from search.evaluation.data import DataError, StsPair, load_qrels, load_queries, load_sts, sts_path
from search.evaluation.paraphrase import SOURCE_SPLITS, build, load_paraphrase_set, overlap
from search.evaluation.sweep import load_corpus

ROOT = Path(__file__).resolve().parents[1]


def test_overlap_counts_bm25_terms_stemmed_without_stopwords() -> None:
    assert overlap("A man is playing a guitar.", "The man plays guitars.") == 1.0  # man, play, guitar
    assert overlap("A woman slices an onion.", "Someone is cutting vegetables.") == 0.0
    assert overlap("A dog runs.", "A dog sleeps.") == pytest.approx(1 / 3)
    assert overlap("The.", "It is.") == 1.0  # no content word on either side: never "low overlap"


def test_build_keeps_only_high_score_low_overlap_pairs_and_unjudged_distractors() -> None:
    pairs = [
        StsPair(4.6, "A woman slices an onion.", "Someone is cutting vegetables."),  # kept
        StsPair(4.8, "A man is playing a guitar.", "The man plays guitars."),  # same words: dropped
        StsPair(3.2, "Stocks fell sharply today.", "Markets dropped a lot."),  # low gold score: dropped
        StsPair(0.4, "A woman slices an onion.", "A cat climbs a tree."),  # judged against the query
        StsPair(1.0, "A plane takes off.", "Kids swim in a lake."),
    ]
    made = build(pairs, distractors=None)
    assert [(q, d) for _, q, d in made.pairs] == [("A woman slices an onion.", "Someone is cutting vegetables.")]
    distractors = {text for _, text in made.distractors}
    assert "A cat climbs a tree." not in distractors  # rated against a query: it could be (partly) relevant
    assert "A woman slices an onion." not in distractors and "Someone is cutting vegetables." not in distractors
    assert {"A plane takes off.", "Kids swim in a lake.", "Stocks fell sharply today.",
            "The man plays guitars."} <= distractors
    assert len(build(pairs, distractors=2).distractors) == 2
    assert ("A man is playing a guitar.", "The man plays guitars.") in {
        (q, d) for _, q, d in build(pairs, max_overlap=1.0).pairs}


def _test_pairs() -> set[tuple[str, str]]:
    """The STS-B test split's sentence pairs, read here only to check that the set holds none of them."""
    path = sts_path("dev").with_name("sts-test.csv")
    with open(path, encoding="utf-8", newline="") as f:
        return {(cols[5].strip(), cols[6].strip()) for cols in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)}


def test_the_set_comes_from_train_and_dev_and_never_from_test() -> None:
    assert SOURCE_SPLITS == ("train", "dev")
    with pytest.raises(DataError, match="test is kept"):
        load_sts("test")  # type: ignore[arg-type]
    made = load_paraphrase_set(distractors=None)
    source = {(p.first, p.second): p for split in SOURCE_SPLITS for p in load_sts(split)}
    assert len(made.pairs) >= 100
    for _, query, document in made.pairs:
        pair = source[(query, document)]
        assert pair.score >= 4.0 and overlap(query, document) <= 0.3
    assert not {(q, d) for _, q, d in made.pairs} & _test_pairs()
    sentences = {t for first, second in source for t in (first, second)}
    assert {text for _, text in made.distractors} <= sentences
    assert not {q for _, q, _ in made.pairs} & {text for _, text in made.distractors}


def test_bench_builder_writes_a_beir_set(tmp_path: Path) -> None:
    out = tmp_path / "para"
    subprocess.run([sys.executable, str(ROOT / "bench" / "paraphrase.py"), str(out), "--distractors", "7"],
                   check=True, capture_output=True, cwd=tmp_path)
    queries, qrels, corpus = load_queries(out / "queries.jsonl"), load_qrels(out / "qrels.tsv"), load_corpus(
        out / "corpus.jsonl")
    assert len(corpus) == len(queries) + 7 and set(qrels) == set(queries)
    assert all(list(judged) == [qid] and qid in corpus for qid, judged in qrels.items())
