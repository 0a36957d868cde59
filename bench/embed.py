"""Embedder throughput, padding, memory and efficiency against the machine's matmul peak and a naive baseline.

    python bench/embed.py [--texts 400] [--model gemma-3-270m] [--device cpu] [--dtype bf16]

Prints one report: tokens/s, texts/s, padding share, achieved GFLOP/s vs measured bf16 matmul peak, peak RSS,
and the speed-up over a naive implementation of the same method (fixed batches of 16 in input order, padded to
the batch maximum, one pass per template).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import time

import numpy as np
import torch

from embedder import CLASSICAL, Embedder
from embedder.model_thread import on_model_thread
from embedder.templates import PromptTokenizer, Template

WORDS = [
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "was",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "at",
    "from",
    "this",
    "are",
    "be",
    "or",
    "have",
    "an",
    "which",
    "it",
    "not",
    "had",
    "but",
    "were",
    "their",
    "has",
    "more",
    "its",
    "also",
    "after",
    "first",
    "new",
    "two",
    "been",
    "other",
    "into",
    "time",
    "year",
    "people",
    "over",
    "would",
    "used",
    "only",
    "most",
    "system",
    "data",
    "model",
    "search",
    "document",
    "query",
    "river",
    "music",
    "city",
    "school",
    "water",
    "light",
    "energy",
    "market",
    "history",
    "science",
    "engine",
    "network",
    "language",
    "memory",
    "paper",
    "result",
    "method",
    "vector",
    "embedding",
    "retrieval",
    "question",
    "answer",
]


def make_corpus(n: int, tokenizer_count, seed: int = 0) -> list[str]:
    """Texts of 20 to 300 tokens (uniform), like chunks of mixed documents."""
    rng = np.random.default_rng(seed)
    texts = []
    for target in rng.integers(20, 301, size=n):
        words = list(rng.choice(WORDS, size=int(target)))
        text = " ".join(words)
        while tokenizer_count(text) > target:
            words = words[: max(1, len(words) - 5)]
            text = " ".join(words)
        texts.append(text.capitalize() + ".")
    return texts


def matmul_peak(dtype: torch.dtype, device: torch.device, size: int = 2048, reps: int = 10) -> float:
    """Measured dense matmul rate in GFLOP/s at this dtype (the best of several runs)."""
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    for _ in range(2):
        a @ b
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def forward_flops(emb: Embedder, batch_shapes: list[tuple[int, int]]) -> float:
    """FLOPs of the transformer forward for (rows, width) batches: weights (2 per param per token) + attention."""
    cfg = emb.model.config
    embed_params = cfg.vocab_size * cfg.hidden_size
    weight_params = sum(p.numel() for p in emb.model.parameters()) - embed_params
    head_dim = getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads)
    attn_width = cfg.num_attention_heads * head_dim
    total = 0.0
    for rows, width in batch_shapes:
        tokens = rows * width
        total += 2 * weight_params * tokens
        total += cfg.num_hidden_layers * rows * 4 * width * width * attn_width  # QK^T and AV, full square
    return total


class Recorder:
    """Wraps the model forward to record batch shapes and time spent inside it."""

    def __init__(self, emb: Embedder) -> None:
        self.shapes: list[tuple[int, int]] = []
        self.seconds = 0.0
        self._forward = emb.model.forward
        emb.model.forward = self  # type: ignore[method-assign]
        self.device = emb.device

    def __call__(self, *args, **kwargs):
        ids = kwargs["input_ids"]
        self.shapes.append((int(ids.shape[0]), int(ids.shape[1])))
        _sync(self.device)
        t = time.perf_counter()
        out = self._forward(*args, **kwargs)
        _sync(self.device)
        self.seconds += time.perf_counter() - t
        return out


@torch.inference_mode()
def naive(emb: Embedder, texts: list[str], templates: list[Template], batch: int = 16) -> float:
    """The same method done plainly: input order, fixed batches, pad to the batch maximum, a pass per template."""
    prompt = PromptTokenizer(emb.tokenizer)
    t = time.perf_counter()
    for template in templates:
        for start in range(0, len(texts), batch):
            encs = [prompt.encode(template, x, emb.max_text_tokens) for x in texts[start : start + batch]]
            width = max(len(e.ids) for e in encs)
            ids = torch.zeros((len(encs), width), dtype=torch.long)
            mask = torch.zeros_like(ids)
            for row, e in enumerate(encs):
                ids[row, : len(e.ids)] = torch.tensor(e.ids)
                mask[row, : len(e.ids)] = 1
            hidden = emb.model(input_ids=ids.to(emb.device), attention_mask=mask.to(emb.device)).last_hidden_state
            for row, e in enumerate(encs):
                s, end = e.spans[-1]
                hidden[row, s:end].float().mean(0)
    _sync(emb.device)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--batch-tokens", type=int, default=None)
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args()

    emb = Embedder.from_pretrained(args.model, device=args.device, dtype=args.dtype, batch_tokens=args.batch_tokens)
    texts = make_corpus(args.texts, emb.count_tokens)
    text_tokens = sum(emb.count_tokens(x) for x in texts)
    peak = on_model_thread(matmul_peak, emb.dtype, emb.device)  # where the model runs: one OpenMP team
    emb.encode(texts[:8])  # warm-up

    rec = Recorder(emb)
    t = time.perf_counter()
    out = emb.encode(texts, kind="document")
    wall = time.perf_counter() - t
    flops = forward_flops(emb, rec.shapes)
    emb.model.forward = rec._forward  # type: ignore[method-assign]

    echo_only = dataclasses.replace(emb, classical_mode="none")
    t = time.perf_counter()
    echo_only.encode(texts, kind="document")
    echo_wall = time.perf_counter() - t
    naive_echo = on_model_thread(naive, emb, texts, [emb.preset.document])
    naive_both = naive_echo + on_model_thread(naive, emb, texts, [CLASSICAL])

    report = {
        "model": emb.model_name,
        "device": str(emb.device),
        "dtype": str(emb.dtype).replace("torch.", ""),
        "threads": torch.get_num_threads(),
        "batch_tokens": emb.batch_tokens,
        "texts": len(texts),
        "text_tokens": text_tokens,
        "computed_tokens": out.tokens,
        "padding_share": round(out.padded_tokens / out.tokens, 4),
        "seconds_echo_plus_classical": round(wall, 2),
        "texts_per_s": round(len(texts) / wall, 1),
        "computed_tokens_per_s": round(out.tokens / wall, 1),
        "forward_seconds": round(rec.seconds, 2),
        "forward_gflops_per_s": round(flops / rec.seconds / 1e9, 1),
        "matmul_peak_gflops_per_s": round(peak, 1),
        "forward_vs_matmul_peak": round(flops / rec.seconds / 1e9 / peak, 3),
        "seconds_echo_only": round(echo_wall, 2),
        "naive_seconds_echo_only": round(naive_echo, 2),
        "naive_seconds_echo_plus_classical": round(naive_both, 2),
        "speedup_vs_naive_echo_only": round(naive_echo / echo_wall, 2),
        "speedup_vs_naive_echo_plus_classical": round(naive_both / wall, 2),
        "peak_rss_gb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2),
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        width = max(map(len, report))
        for key, value in report.items():
            print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
