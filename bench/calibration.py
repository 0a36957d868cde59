"""How well a score tells a relevant document from an irrelevant one, across queries: raw cosine, centered cosine,
and the calibrated z of `search.query.calibration`, on a BEIR-layout set (e.g. bench/manpages.py, bench/faq.py).

    python bench/calibration.py SET_DIR [--max-text-tokens 256] [--sample 256]

Embeds every document and query with the default embedder (echo vectors), then reports, over all (query, document)
pairs: the AUC of each score (one threshold for every query, as a person reading scores uses one), the mean score
of relevant and irrelevant pairs, and for z thresholds the share of relevant pairs above them and their precision.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedder import Embedder  # noqa: E402
from embedder.centering import normalise  # noqa: E402
from search.evaluation.data import load_qrels, load_queries  # noqa: E402
from search.evaluation.sweep import load_corpus  # noqa: E402
from search.query.calibration import Background  # noqa: E402


def auc(relevant: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve of `scores` for the boolean labels `relevant` (rank formula)."""
    ranks = rankdata(scores)
    n1 = int(relevant.sum())
    n0 = len(relevant) - n1
    return float((ranks[relevant].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set_dir", type=Path)
    parser.add_argument("--max-text-tokens", type=int, default=256)
    parser.add_argument("--sample", type=int, default=256, help="documents in the background sample")
    args = parser.parse_args()
    corpus = load_corpus(args.set_dir / "corpus.jsonl")
    queries = load_queries(args.set_dir / "queries.jsonl")
    qrels = load_qrels(args.set_dir / "qrels.tsv")
    emb = Embedder.from_pretrained(max_text_tokens=args.max_text_tokens)
    print(f"{emb.fingerprint}, {len(corpus)} documents", file=sys.stderr)
    dids = list(corpus)
    qids = [q for q in queries if q in qrels]
    docs = emb.encode([corpus[d] for d in dids], kind="document", with_classical=False).echo
    qs = emb.encode([queries[q] for q in qids], kind="query", with_classical=False).echo
    raw = qs @ docs.T
    mean = docs.mean(0)
    centered = normalise(qs - mean) @ normalise(docs - mean).T
    sample = docs[np.random.default_rng(0).choice(len(dids), min(args.sample, len(dids)), replace=False)]
    background = Background({"echo": sample}, generation=0)
    z = np.array([background.z_scores("echo", q, list(row)) for q, row in zip(qs, raw, strict=True)], dtype=float)
    relevant = np.zeros_like(raw, dtype=bool)
    for i, q in enumerate(qids):
        for d, grade in qrels[q].items():
            if grade > 0 and d in corpus:
                relevant[i, dids.index(d)] = True
    for name, scores in (("cosine", raw), ("centered", centered), ("z", z)):
        print(f"{name:9s} AUC {auc(relevant.ravel(), scores.ravel()):.3f}  relevant mean {scores[relevant].mean():.3f}"
              f"  irrelevant mean {scores[~relevant].mean():.3f}")
    for t in (2.0, 2.5, 3.0, 3.5):
        above = z >= t
        print(f"z >= {t}: {100 * relevant[above].sum() / relevant.sum():.0f} % of relevant pairs above, precision "
              f"{100 * relevant[above].sum() / max(above.sum(), 1):.0f} %, {(~relevant & above).sum() / len(z):.2f} "
              "irrelevant documents per query")


if __name__ == "__main__":
    main()
