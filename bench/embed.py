"""Embedder throughput, padding, memory and efficiency against the machine's peak and a naive baseline.

    python bench/embed.py [--texts 400] [--lengths 20-300] [--model gemma-3-270m] [--device cpu] [--dtype bf16]
    python bench/embed.py --random-weights mistral-7b --device cuda --texts 400 --lengths 20-500 \\
        --sweep-batch-tokens 16384,32768,131072 --sweep-attn eager,sdpa-efficient,sdpa-cudnn

Embeds mixed-length texts (text tokens drawn uniformly from --lengths) as documents, echo + classical, the way
`ingest` does, and prints: tokens/s, texts/s, padding share, the model FLOPs achieved against the measured dense
matmul peak of the same dtype and device (and, on CUDA, MFU against `--peak-tflops`, 790 TFLOP/s for bf16 on an
H100/H200), peak memory, and the speed-up over a naive implementation of the same method (fixed batches in input
order, padded to the batch maximum, a padding mask, one pass per template). Every report names the machine's
CPU capability (or GPU), the dtype and the attention kernel.

`--random-weights SHAPE` builds the model from a config with random weights (bench/random_weights.py), for
shapes whose weights are not at hand; speed does not depend on weight values, and the report says so.
`--sweep-batch-tokens` and `--sweep-attn` add rows (echo + classical, timed end to end) for other token budgets
per forward and other attention kernels: sdpa (PyTorch picks), sdpa-flash, sdpa-efficient, sdpa-cudnn,
sdpa-math, eager. `--compile` adds a `torch.compile(dynamic=True)` row, its compile time reported apart.

`--workloads docs,long` adds rows for real work, timed the same way and printed with the CPU capability, dtype
and measured matmul peak: the chunks `ingest ./docs` produces (200-token budget), and 1,500-token passages
cut from docs/*.md (the echo pass cut to what fits the attention window, the embedder's default).
`--quantize int8` runs the linear layers as PyTorch's dynamically quantized int8 (CPU, float32; its FLOP rates
are still measured against the float32 matmul peak).

FLOPs counted: 2 per non-embedding weight per computed token, plus attention (QK^T and AV) over the key
positions each query really attends to: causal, and within the sliding window on sliding-window layers.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedder import CLASSICAL, Embedder, EncodeResult, tune_process  # noqa: E402
from embedder.model_thread import on_model_thread  # noqa: E402
from embedder.templates import PromptTokenizer, Template  # noqa: E402

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

ATTENTION = ("sdpa", "sdpa-flash", "sdpa-efficient", "sdpa-cudnn", "sdpa-math", "eager")
H100_BF16_TFLOPS = 790.0


def make_corpus(n: int, count_tokens: Callable[[str], int], lengths: tuple[int, int], seed: int = 0) -> list[str]:
    """`n` texts whose token counts are drawn uniformly from `lengths` (inclusive), like chunks of mixed documents."""
    rng = np.random.default_rng(seed)
    texts = []
    for target in rng.integers(lengths[0], lengths[1] + 1, size=n):
        words = list(rng.choice(WORDS, size=int(target)))
        text = " ".join(words)
        while count_tokens(text) > target:
            words = words[: max(1, len(words) - 5)]
            text = " ".join(words)
        texts.append(text.capitalize() + ".")
    return texts


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def matmul_peak(dtype: torch.dtype, device: torch.device, reps: int = 10) -> float:
    """Measured dense matmul rate in GFLOP/s at this dtype and device (the best of several runs)."""
    size = 8192 if device.type == "cuda" else 2048
    a = torch.randn(size, size, dtype=dtype, device=device)
    b = torch.randn(size, size, dtype=dtype, device=device)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(reps):
        _sync(device)
        t = time.perf_counter()
        a @ b
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def attended_pairs(width: int, window: int | None) -> int:
    """(query, key) pairs of one causal row of `width` tokens, each query seeing at most `window` keys."""
    causal = width * (width + 1) // 2
    if window is None or window >= width:
        return causal
    return causal - (width - window) * (width - window + 1) // 2


def forward_flops(model: torch.nn.Module, batch_shapes: list[tuple[int, int]]) -> float:
    """Model FLOPs of forward passes over (rows, width) batches: weights (2 per parameter per token) + attention."""
    cfg = model.config  # type: ignore[attr-defined]
    embedding = model.get_input_embeddings().weight.numel()  # type: ignore[operator]
    weights = sum(p.numel() for p in model.parameters()) - embedding
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
    attn_width = cfg.num_attention_heads * head_dim
    layer_types = getattr(cfg, "layer_types", None) or ["full_attention"] * cfg.num_hidden_layers
    window = getattr(cfg, "sliding_window", None)
    total = 0.0
    for rows, width in batch_shapes:
        total += 2 * weights * rows * width
        for kind in layer_types:
            pairs = attended_pairs(width, window if kind == "sliding_attention" else None)
            total += rows * 4 * pairs * attn_width  # QK^T and AV: 2 FLOPs per pair and channel each
    return total


class Recorder:
    """Wraps the model's forward to record batch shapes and the time spent inside it."""

    def __init__(self, emb: Embedder) -> None:
        self.shapes: list[tuple[int, int]] = []
        self.seconds = 0.0
        self.emb = emb
        self._forward = emb.model.forward

    def __enter__(self) -> Recorder:
        self.emb.model.forward = self  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        self.emb.model.forward = self._forward  # type: ignore[method-assign]

    def __call__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
        ids = kwargs["input_ids"]
        self.shapes.append((int(ids.shape[0]), int(ids.shape[1])))
        _sync(self.emb.device)
        t = time.perf_counter()
        out = self._forward(*args, **kwargs)
        _sync(self.emb.device)
        self.seconds += time.perf_counter() - t
        return out


@contextlib.contextmanager
def attention(model: torch.nn.Module, kind: str) -> Iterator[None]:
    """Run the model with attention `kind` (see ATTENTION), then restore its own."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kernels = {
        "sdpa-flash": SDPBackend.FLASH_ATTENTION,
        "sdpa-efficient": SDPBackend.EFFICIENT_ATTENTION,
        "sdpa-cudnn": SDPBackend.CUDNN_ATTENTION,
        "sdpa-math": SDPBackend.MATH,
    }
    before = model.config._attn_implementation  # type: ignore[attr-defined]
    model.set_attn_implementation("eager" if kind == "eager" else "sdpa")  # type: ignore[operator]
    try:
        if kind in kernels:  # global flags, so they hold on the model thread too
            with sdpa_kernel(kernels[kind]):
                yield
        else:
            yield
    finally:
        model.set_attn_implementation(before)  # type: ignore[operator]


@torch.inference_mode()
def naive(emb: Embedder, texts: list[str], templates: list[Template], batch: int) -> float:
    """The same method done plainly: input order, fixed batches, pad to the batch maximum, a pass per template."""
    prompt = PromptTokenizer(emb.tokenizer)
    _sync(emb.device)
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
                hidden[row, s:end].float().mean(0).cpu()
    _sync(emb.device)
    return time.perf_counter() - t


def timed_encode(emb: Embedder, texts: list[str]) -> tuple[float, Recorder, EncodeResult]:
    """Seconds for echo + classical document embeddings of `texts`, the forwards it ran, and the result."""
    with Recorder(emb) as rec:
        t = time.perf_counter()
        out = emb.encode(texts, kind="document")
        _sync(emb.device)
        wall = time.perf_counter() - t
    return wall, rec, out


def machine(device: torch.device) -> str:
    """What ran it: the GPU's name, or the CPU's capability as torch sees it (AVX2, AVX512, ...)."""
    cpu = f"CPU {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads"
    return f"{torch.cuda.get_device_name(device)} ({cpu} host)" if device.type == "cuda" else cpu


def load(args: argparse.Namespace) -> tuple[Embedder, str]:
    """The embedder under test and a note on its weights."""
    tune_process(args.device)  # as the commands run it
    if args.random_weights:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from random_weights import RANDOM_NOTE, random_embedder

        from embedder.device import pick_device, pick_dtype

        device = pick_device(args.device)
        emb = on_model_thread(
            random_embedder,
            args.random_weights,
            args.tokenizer,
            str(device),
            pick_dtype(device, args.dtype),
            args.batch_tokens,
        )
        return emb, RANDOM_NOTE
    emb = Embedder.from_pretrained(args.model, device=args.device, dtype=args.dtype, batch_tokens=args.batch_tokens,
                                   quantize=args.quantize)
    return emb, "trained weights"


DOCS = Path(__file__).resolve().parents[1] / "docs"


def docs_chunks(emb: Embedder, chunk_tokens: int = 200) -> list[str]:
    """The chunk texts `ingest ./docs` embeds (the same discovery, parsing and chunking, no store)."""
    from ingest.chunking import tokenizer_chunker
    from ingest.discover import discover
    from ingest.parse import parse_file

    chunker = tokenizer_chunker(emb.tokenizer, chunk_tokens)
    files = sorted(discover([DOCS]).files.values())
    return [c.text for f in files for c in chunker.chunks(parse_file(f))]


def long_passages(emb: Embedder, tokens: int = 1500) -> list[str]:
    """Consecutive passages of `tokens` tokens cut from the text of every docs/ file long enough for one."""
    out = []
    for path in sorted(DOCS.glob("*.md")):
        text = path.read_text()
        offsets = emb.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        for start in range(0, len(offsets) - tokens + 1, tokens):
            out.append(text[offsets[start][0] : offsets[start + tokens - 1][1]])
    return out


def workload_row(emb: Embedder, name: str, texts: list[str], peak: float) -> dict[str, object]:
    """A real workload timed like the main run (echo + classical documents), with what ran it."""
    emb.encode(texts[:8], kind="document")  # warm-up of this workload's shapes
    row = sweep_row(emb, texts, peak, {"workload": name, "texts": len(texts),
                                      "text_tokens": sum(emb.count_tokens(t) for t in texts)})
    return {**row, "cpu_capability": torch.backends.cpu.get_cpu_capability(), "dtype": str(emb.dtype)[6:],
            "quantization": emb.quantization, "matmul_peak_gflops": round(peak, 1)}


def sweep_row(emb: Embedder, texts: list[str], peak: float, label: dict[str, object]) -> dict[str, object]:
    """One extra configuration, timed end to end; an error (a kernel that does not apply) is reported, not fatal."""
    try:
        wall, rec, out = timed_encode(emb, texts)
    except RuntimeError as exc:
        return {**label, "error": str(exc).splitlines()[0][:160]}
    flops = forward_flops(emb.model, rec.shapes)
    return {
        **label,
        "seconds": round(wall, 3),
        "computed_tokens_per_s": round(out.tokens / wall),
        "achieved_tflops": round(flops / wall / 1e12, 2),
        "vs_peak": round(flops / wall / 1e9 / peak, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=400)
    parser.add_argument("--lengths", default="20-300", help="text tokens, MIN-MAX, drawn uniformly")
    parser.add_argument("--model", default=None, help="model reference (default: the packaged default)")
    parser.add_argument("--random-weights", metavar="SHAPE", help="gemma-3-270m, mistral-7b or a config.json")
    parser.add_argument("--tokenizer", help="tokenizer folder for --random-weights (default: the packaged one)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--batch-tokens", type=int, default=None, help="padded tokens per forward")
    parser.add_argument("--attn", choices=ATTENTION, default="sdpa", help="attention kernel of the main run")
    parser.add_argument("--naive-batch", type=int, default=16, help="batch size of the naive baseline")
    parser.add_argument("--no-naive", action="store_true", help="skip the naive baseline")
    parser.add_argument("--sweep-batch-tokens", default="", help="comma-separated token budgets to time as well")
    parser.add_argument("--sweep-attn", default="", help=f"comma-separated attention kernels: {', '.join(ATTENTION)}")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile(dynamic=True)")
    parser.add_argument("--peak-tflops", type=float, help="MFU roofline (default on CUDA: 790, bf16 H100/H200)")
    parser.add_argument("--json", action="store_true", help="print the report as one JSON object")
    parser.add_argument("--quantize", choices=["int8", "none"], default=None, help="int8 linear layers (CPU, fp32)")
    parser.add_argument("--workloads", default="", help="comma-separated real workloads to time after the main run: "
                        "docs (the chunks `ingest ./docs` makes), long (1,500-token passages of docs/*.md)")
    args = parser.parse_args()
    lo, hi = (int(x) for x in args.lengths.split("-"))

    emb, weights_note = load(args)
    texts = make_corpus(args.texts, emb.count_tokens, (lo, hi))
    text_tokens = sum(emb.count_tokens(x) for x in texts)
    peak = on_model_thread(matmul_peak, emb.dtype, emb.device)  # where the model runs: one OpenMP team
    roofline = args.peak_tflops or (H100_BF16_TFLOPS if emb.device.type == "cuda" else peak / 1000)
    if emb.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(emb.device)

    with attention(emb.model, args.attn):
        emb.encode(texts[: max(64, len(texts) // 4)], kind="document")  # warm-up: kernels, allocator, shapes
        wall, rec, out = timed_encode(emb, texts)
        flops = forward_flops(emb.model, rec.shapes)
        echo_only = dataclasses.replace(emb, classical_mode="none")
        t = time.perf_counter()
        echo_only.encode(texts, kind="document")
        _sync(emb.device)
        echo_wall = time.perf_counter() - t
        naive_echo = naive_both = None
        if not args.no_naive:
            naive_echo = on_model_thread(naive, emb, texts, [emb.preset.document], args.naive_batch)
            naive_both = naive_echo + on_model_thread(naive, emb, texts, [CLASSICAL], args.naive_batch)

    report: dict[str, object] = {
        "model": emb.model_name,
        "weights": weights_note,
        "machine": machine(emb.device),
        "device": str(emb.device),
        "dtype": str(emb.dtype).replace("torch.", ""),
        "quantization": emb.quantization,
        "attention": args.attn,
        "batch_tokens": emb.batch_tokens,
        "texts": len(texts),
        "text_token_range": f"{lo}-{hi}",
        "text_tokens": text_tokens,
        "computed_tokens": out.tokens,
        "padding_share": round(out.padded_tokens / out.tokens, 4),
        "seconds_echo_plus_classical": round(wall, 3),
        "texts_per_s": round(len(texts) / wall, 1),
        "computed_tokens_per_s": round(out.tokens / wall, 1),
        "achieved_tflops": round(flops / wall / 1e12, 3),
        "forward_seconds": round(rec.seconds, 3),
        "forward_tflops": round(flops / rec.seconds / 1e12, 3),
        "matmul_peak_tflops": round(peak / 1000, 3),
        "vs_matmul_peak": round(flops / wall / 1e9 / peak, 3),
        "roofline_tflops": round(roofline, 1),
        "mfu": round(flops / wall / 1e12 / roofline, 3),
        "seconds_echo_only": round(echo_wall, 3),
    }
    if naive_echo is not None and naive_both is not None:
        report |= {
            "naive_batch": args.naive_batch,
            "naive_seconds_echo_only": round(naive_echo, 3),
            "naive_seconds_echo_plus_classical": round(naive_both, 3),
            "speedup_vs_naive_echo_only": round(naive_echo / echo_wall, 2),
            "speedup_vs_naive_echo_plus_classical": round(naive_both / wall, 2),
        }
    if emb.device.type == "cuda":
        report["peak_gpu_memory_gb"] = round(torch.cuda.max_memory_allocated(emb.device) / 1024**3, 2)
    report["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2, 2)

    progress(report)  # what is measured so far survives a later row that runs out of time
    rows: list[dict[str, object]] = []
    for budget in filter(None, args.sweep_batch_tokens.split(",")):
        with attention(emb.model, args.attn):
            rows.append(
                sweep_row(
                    dataclasses.replace(emb, batch_tokens=int(budget)),
                    texts,
                    peak,
                    {"batch_tokens": int(budget), "attention": args.attn},
                )
            )
        progress(rows[-1])
    for kind in filter(None, args.sweep_attn.split(",")):
        with attention(emb.model, kind):
            rows.append(sweep_row(emb, texts, peak, {"batch_tokens": emb.batch_tokens, "attention": kind}))
        progress(rows[-1])
    if args.compile:
        rows.append(compiled_row(emb, texts, peak, args.attn))
    workloads = {"docs": docs_chunks, "long": long_passages}
    for name in filter(None, args.workloads.split(",")):
        with attention(emb.model, args.attn):
            rows.append(workload_row(emb, name, workloads[name](emb), peak))
        progress(rows[-1])
    if rows:
        report["sweep"] = rows
    print_report(report, args.json)


def compiled_row(emb: Embedder, texts: list[str], peak: float, attn: str) -> dict[str, object]:
    """The main configuration with the model forward under torch.compile(dynamic=True)."""
    eager_forward = emb.model.forward
    emb.model.forward = torch.compile(eager_forward, dynamic=True)  # type: ignore[method-assign]
    try:
        with attention(emb.model, attn):
            t = time.perf_counter()
            emb.encode(texts[:64], kind="document")  # compiles (and recompiles for new shapes once)
            compile_s = time.perf_counter() - t
            row = sweep_row(emb, texts, peak, {"batch_tokens": emb.batch_tokens, "attention": f"{attn}+compile"})
    finally:
        emb.model.forward = eager_forward  # type: ignore[method-assign]
    return {**row, "compile_and_warmup_s": round(compile_s, 1)}


def progress(row: dict[str, object]) -> None:
    print(f"progress: {json.dumps(row)}", file=sys.stderr, flush=True)


def print_report(report: dict[str, object], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report))
        return
    rows = report.pop("sweep", [])
    width = max(map(len, report))
    for key, value in report.items():
        print(f"{key:<{width}}  {value}")
    for row in rows:  # type: ignore[attr-defined]
        print("  sweep: " + ", ".join(f"{k}={v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
