"""Echo against classical on passages of growing length: does echo keep its lead past the attention window?

    python bench/long_passages.py SET [--lengths 200,400,800,1500] [--variants split,unaware,cut] [--dtype ...]

SET is a BEIR-layout folder (corpus.jsonl, queries.jsonl, qrels.tsv; `bench/manpages.py` builds one). Every
document is cut to each length in tokens of the model's tokenizer; queries are embedded once with the
instructed query template. Echo variants for the documents:

* `cut` (the default, `long_texts="cut"`): the text cut to what one echo prompt holds within the window;
* `split` (`long_texts="split"`): a text whose echo prompt would outgrow the window is echoed in pieces;
* `unaware`: the whole text in one echo prompt, as before the window was taken into account.

Classical (own pass, whole text) is the baseline. Prints nDCG@10 x 100 per length, with the CPU capability and
dtype; `--json` for one JSON object.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedder import CLASSICAL, Embedder  # noqa: E402
from search.evaluation.data import load_qrels, load_queries  # noqa: E402
from search.evaluation.metrics import retrieval_scores  # noqa: E402


def load_corpus(path: Path) -> dict[str, str]:
    """BEIR corpus.jsonl: `{_id, title, text}` per line, title and text joined."""
    rows = (json.loads(line) for line in path.read_text().splitlines() if line.strip())
    return {r["_id"]: "\n".join(x for x in (r.get("title"), r["text"]) if x) for r in rows}


def cut(emb: Embedder, text: str, tokens: int) -> str:
    """`text` up to the end of its `tokens`-th token."""
    offsets = emb.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return text if len(offsets) <= tokens else text[: offsets[tokens - 1][1]]


def ndcg(queries: np.ndarray, docs: np.ndarray, qids: list[str], dids: list[str], qrels: dict) -> float:
    order = np.argsort(-(queries @ docs.T), axis=1, kind="stable")
    rankings = {q: [dids[j] for j in order[i][:10]] for i, q in enumerate(qids)}
    return retrieval_scores(rankings, qrels, 10)["nDCG@10"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set", type=Path)
    parser.add_argument("--lengths", default="200,400,800,1500")
    parser.add_argument("--variants", default="split,unaware,cut")
    parser.add_argument("--model", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--layer", type=int, default=None, help="pooled hidden state [default: the model's]")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    emb = Embedder.from_pretrained(args.model, dtype=args.dtype, max_text_tokens=max(lengths), layer=args.layer)
    corpus = load_corpus(args.set / "corpus.jsonl")
    queries = load_queries(args.set / "queries.jsonl")
    qrels = load_qrels(args.set / "qrels.tsv")
    qids, dids = list(queries), list(corpus)
    limit = emb.echo_text_limit(emb.preset.document)
    report: dict[str, object] = {
        "set": str(args.set), "queries": len(qids), "documents": len(dids), "model": emb.model_name,
        "cpu_capability": torch.backends.cpu.get_cpu_capability(), "dtype": str(emb.dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(), "echo_text_limit": limit, "layer": emb.layer_index, "rows": [],
    }
    q = emb.encode([queries[i] for i in qids], kind="query")
    rows: list[dict[str, object]] = []
    for length in lengths:
        texts = [cut(emb, corpus[d], length) for d in dids]
        mean_tokens = float(np.mean([emb.count_tokens(t) for t in texts]))
        start = time.perf_counter()
        row: dict[str, object] = {"length": length, "mean_tokens": round(mean_tokens, 1),
                                  "classical": ndcg(q.classical, emb.embed(texts, CLASSICAL), qids, dids, qrels)}
        for variant in args.variants.split(","):
            if variant in ("split", "cut"):
                docs = dataclasses.replace(emb, long_texts=variant).encode(texts, with_classical=False).echo
            elif variant == "unaware":
                unaware = dataclasses.replace(emb)
                unaware.reach = None
                docs = unaware.encode(texts, kind="document", with_classical=False).echo
            else:
                raise SystemExit(f"unknown variant {variant!r}")
            row[f"echo-{variant}"] = ndcg(q.echo, docs, qids, dids, qrels)
        row["seconds"] = round(time.perf_counter() - start, 1)
        rows.append(row)
        print(json.dumps(row), file=sys.stderr, flush=True)
    report["rows"] = rows
    if args.json:
        print(json.dumps(report))
        return
    print({k: v for k, v in report.items() if k != "rows"})
    names = [k for k in rows[0] if k not in ("length", "seconds")]
    print("| tokens | " + " | ".join(names) + " |")
    for row in rows:
        print(f"| {row['length']} | " + " | ".join(f"{row[n]:.1f}" for n in names) + " |")


if __name__ == "__main__":
    main()
