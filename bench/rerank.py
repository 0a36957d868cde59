"""What the `rerank` ranking costs: one question's forward over N candidate passages, on this machine.

    python bench/rerank.py [SET_DIR] [--candidates 10] [--passage-tokens 64,80,96,128] [--queries 20] [--dtype float32]
                           [--model REF] [--device cuda]

SET_DIR is a BEIR set (`corpus.jsonl`, `queries.jsonl`, e.g. `python bench/faq.py /tmp/faq-dev`): question i is
scored against `--candidates` consecutive passages of the corpus (from passage i x N on), as the reranker scores a
first stage's top N. Without SET_DIR the passages (400 words) and questions (12 words) are drawn from bench/embed.py's
word list, seeded: the cost depends on token counts, not on the words, so a machine without the dev sets (a GPU
machine, with `--model` a random-weights folder from bench/random_weights.py) measures the same work.

Each question goes through `Embedder.rerank`, the passages cut to each `--passage-tokens` budget, in one forward
when they fit the batch budget. The first question of each budget is a warm-up and is not counted. Prints, per budget,
p50 and p90 of a question's milliseconds, p50 per candidate, and the tokens of a forward, with the CPU capability,
dtype and threads. Run it alone (no other model on the machine) for numbers worth reporting.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

# The repository before this folder: the packages win over the bench scripts (bench/search.py is not `search`), and
# `import embed` still finds bench/embed.py's word list, as in bench/ingest.py.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _texts(path: Path) -> list[str]:
    return [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _drawn(passages: int, questions: int) -> tuple[list[str], list[str]]:
    """Passages of 400 words and questions of 12, drawn from bench/embed.py's `WORDS` with a fixed seed."""
    from embed import WORDS  # imports torch: not before the arguments are read

    rng = np.random.default_rng(0)

    def text(words: int) -> str:
        return " ".join(rng.choice(WORDS, words))
    return [text(400) for _ in range(passages)], [text(12) + "?" for _ in range(questions)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("set_dir", type=Path, nargs="?")
    parser.add_argument("--candidates", type=int, default=10)
    parser.add_argument("--passage-tokens", default="64,80,96,128")
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--model", default=None, help="model reference (default: the packaged default)")
    parser.add_argument("--device", default=None, help="cpu, cuda, ... (default: the embedder's pick)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import torch

    from embedder import Embedder, tune_process

    tune_process()
    embedder = Embedder.from_pretrained(args.model, device=args.device, dtype=args.dtype)
    n = args.candidates
    if args.set_dir is None:
        corpus, questions = _drawn(n * (args.queries + 1), args.queries + 1)
    else:
        corpus = _texts(args.set_dir / "corpus.jsonl")
        questions = _texts(args.set_dir / "queries.jsonl")[: args.queries + 1]
    rows = []
    for budget in (int(b) for b in args.passage_tokens.split(",")):
        seconds, tokens = [], []
        for i, question in enumerate(questions):
            start = (i * n) % max(1, len(corpus) - n)
            passages = corpus[start : start + n]
            began = time.perf_counter()
            out = embedder.rerank(question, passages, passage_tokens=budget)
            if i:  # the first is a warm-up
                seconds.append(time.perf_counter() - began)
                tokens.append(out.tokens)
        p50 = float(np.percentile(seconds, 50)) * 1000
        rows.append({"passage_tokens": budget, "candidates": n, "queries": len(seconds), "p50_ms": round(p50),
                     "p90_ms": round(float(np.percentile(seconds, 90)) * 1000),
                     "per_candidate_ms": round(p50 / n, 1), "tokens_per_forward": int(np.median(tokens))})
    env = {"model": embedder.model_name, "dtype": str(embedder.dtype).removeprefix("torch."),
           "cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
           "device": str(embedder.device)}
    if args.json:
        print(json.dumps({"env": env, "rows": rows}, indent=2))
        return
    print(" · ".join(f"{k} {v}" for k, v in env.items()))
    print("| passage tokens | candidates | p50 | p90 | per candidate (p50) | tokens per forward |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['passage_tokens']} | {r['candidates']} | {r['p50_ms']} ms | {r['p90_ms']} ms | "
              f"{r['per_candidate_ms']} ms | {r['tokens_per_forward']} |")


if __name__ == "__main__":
    main()
