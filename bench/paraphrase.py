"""Build a paraphrase retrieval set from STS-B train and dev: the words differ, the meaning does not (BEIR layout).

    python bench/paraphrase.py OUT [--min-score 4.0] [--max-overlap 0.3] [--distractors 400]

Every STS-B train or dev pair with a gold score of at least `--min-score` and a content-word Jaccard overlap of
at most `--max-overlap` (BM25's terms: stopwords dropped, stemmed) is one query (the first sentence) with one
relevant document (the second); the corpus adds `--distractors` other STS-B train/dev sentences (hash order; 0
for none, -1 for all of them, about 13,000) that no kept query was ever rated against. The test split is never
read. With the defaults: 109 queries, 2,109 documents (search/evaluation/paraphrase.py has the rules).
Writes OUT/corpus.jsonl, OUT/queries.jsonl and OUT/qrels.tsv; then, as for the other dev sets:

    search eval layers --no-sts --corpus OUT/corpus.jsonl --queries OUT/queries.jsonl --qrels OUT/qrels.tsv
    python bench/corpus_files.py OUT && ingest OUT/files --collection para
    search eval retrieval --collection para --queries OUT/queries.jsonl --qrels OUT/qrels-files.tsv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from beir import write_set  # noqa: E402 - bench/beir.py, beside this file

from search.evaluation.paraphrase import load_paraphrase_set  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--min-score", type=float, default=4.0)
    parser.add_argument("--max-overlap", type=float, default=0.3)
    parser.add_argument("--distractors", type=int, default=2000)
    args = parser.parse_args()
    made = load_paraphrase_set(min_score=args.min_score, max_overlap=args.max_overlap,
                               distractors=None if args.distractors < 0 else args.distractors)
    write_set(args.out, made.pairs, made.distractors)
    print(f"{len(made.pairs)} queries, {len(made.pairs) + len(made.distractors)} documents written to {args.out}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
