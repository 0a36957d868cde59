"""Where one query's milliseconds go, in process: tokenizing, the model's forwards, the store's search, the result.

    python bench/query.py [--data-dir DIR] [--collection NAME] [--queries 60] [--mode both] [--json]

Opens an ingested collection the way `search serve` does (`open_searcher`: the settings of the environment, the
process tuned as the entry points tune it) and asks `--queries` distinct questions one at a time, as one client of
the service would, each split into the steps the service takes:

- `budget_tokenize`: the service's token budget check (`Embedder.prompt_tokens`, the echo query prompt);
- `embed`: `Embedder.encode` of the question as a query (tokenizing its prompts, the forwards, pooling), with
  `tokenize` (the echo prompt and the classical prompt, tokenized alone) reported apart and `forwards` the rest;
- `search`: the store's nearest-neighbour search of both vectors (`Searcher`'s own `search_ms`);
- `rank`: the rest of `Searcher.search` (hits, calibrated scores);
- `serialize`: the service's response model written as JSON.

Prints p50 and p95 of each step and of their sum, with the CPU capability, dtype and threads. What HTTP and the
service's batching add on top is `bench/search.py`'s single-client latency minus this sum.
Ingest something first (`ingest ./docs`); every question is asked once, so no cache is involved.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

# This file is bench/query.py: drop its folder from the path so `import search` finds the package, not itself.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

QUESTIONS = [
    "how do I start the search service", "what is an echo embedding", "which file formats can be ingested",
    "how are documents split into chunks", "where is the data folder", "how do I run the tests",
    "what does the ingest report show", "how can I search only one file", "what does the web UI compare",
    "how do I use a Qdrant server", "what happens to a corrupt file", "how do I resume an interrupted ingest",
    "which model is used by default", "how do I change the model", "what is the classical embedding",
    "how fast is ingest on a CPU", "how is the API key set", "how many results are returned",
    "what is hybrid search", "how does BM25 work here", "what does the fingerprint protect against",
    "how do I back up the store", "can I use a GPU", "what is the query template",
    "why are documents repeated in the prompt", "how do I watch a folder", "how does LangChain use it",
    "what are the exit codes", "what is the chunk size", "how is a PDF parsed",
]


def percentiles(ms: list[float]) -> tuple[float, float]:
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, help="the embedded store's data folder (default: the settings')")
    parser.add_argument("--collection", help="collection name (default: the settings')")
    parser.add_argument("--queries", type=int, default=60, help="questions asked, each once (after 3 warm-ups)")
    parser.add_argument("--mode", default="both", help="the ranking asked for, as the service's `mode`")
    parser.add_argument("--json", action="store_true", help="end with the figures as one JSON line")
    args = parser.parse_args()

    import torch

    from embedder import tune_process
    from embedder.templates import DEFAULT_INSTRUCTION
    from search.query.backend import open_searcher
    from search.query.request import SearchQuery
    from search.service.schema import SearchResponse, Timings
    from search.settings import Settings

    overrides: dict = {}
    if args.data_dir:
        overrides["data"] = str(args.data_dir)
    if args.collection:
        overrides["collection"] = args.collection
    settings = Settings().override(store=overrides) if overrides else Settings()
    searcher = open_searcher(settings, prepare=lambda: tune_process(settings.embedder.device))
    model = searcher.model
    questions = [f"{q} ({n})" if n else q for n in range(args.queries // len(QUESTIONS) + 1) for q in QUESTIONS]
    questions = questions[: args.queries]
    classical = model.classical_prompt("query")
    steps: dict[str, list[float]] = {s: [] for s in ("budget_tokenize", "tokenize", "forwards", "search", "rank",
                                                     "serialize", "total")}
    for n, question in enumerate(["warm-up one", "warm-up two", "warm-up three", *questions]):
        t0 = time.perf_counter()
        model.prompt_tokens(question, "query", instruction=DEFAULT_INSTRUCTION)
        t1 = time.perf_counter()
        model.prompt_tokens(question, "query", instruction=DEFAULT_INSTRUCTION)
        if classical is not None:
            model.prompt.encode_many(classical, [question], model.max_text_tokens)
        t2 = time.perf_counter()
        result = searcher.search(SearchQuery(question, 10, args.mode))
        t3 = time.perf_counter()
        SearchResponse(echo=result.echo, classical=result.classical, bm25=result.bm25, hybrid=result.hybrid,
                       timings=Timings(embed_ms=0, search_ms=0, queue_ms=0, total_ms=0, batch_size=1),
                       cached=False).model_dump_json()
        t4 = time.perf_counter()
        if n < 3:
            continue
        embed, search = result.timings["embed_ms"], result.timings["search_ms"]
        tokenize = (t2 - t1) * 1000
        steps["budget_tokenize"].append((t1 - t0) * 1000)
        steps["tokenize"].append(tokenize)
        steps["forwards"].append(embed - tokenize)
        steps["search"].append(search)
        steps["rank"].append((t3 - t2) * 1000 - embed - search)
        steps["serialize"].append((t4 - t3) * 1000)
        steps["total"].append((t4 - t0) * 1000)
    info = searcher.store.info()
    searcher.close()

    dtype = str(model.dtype).removeprefix("torch.")
    cpu = torch.backends.cpu.get_cpu_capability()
    print(f"{len(questions)} questions, mode {args.mode}, collection {info.name} ({info.points} points), "
          f"model {model.describe().get('model')}, {dtype}, {torch.get_num_threads()} threads, CPU {cpu}")
    print(f"{'step':<16} {'p50 ms':>8} {'p95 ms':>8}")
    figures: dict[str, float] = {}
    for step, ms in steps.items():
        p50, p95 = percentiles(ms)
        figures[f"{step}_p50_ms"], figures[f"{step}_p95_ms"] = round(p50, 2), round(p95, 2)
        print(f"{step:<16} {p50:8.2f} {p95:8.2f}")
    if args.json:
        print(json.dumps({"queries": len(questions), "mode": args.mode, "points": info.points, "dtype": dtype,
                          "cpu": cpu, "threads": torch.get_num_threads(), **figures}))


if __name__ == "__main__":
    main()
