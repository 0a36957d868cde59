"""Ingest benchmark: first ingest, unchanged re-run, and end-to-end chunks/s against each stage alone.

    python bench/ingest.py [--files 1000] [--format notes] [--model gemma-3-270m] [--batch-size 32]
    python bench/ingest.py --format passages --files 200 --chunks-per-file 50 --model FOLDER --batch-size 256
    python bench/ingest.py --corpus ./docs   # real documents: a copy of a folder
    python bench/ingest.py --ray [ADDRESS] [--ray-actors N] ...   # also the Ray runner (pip install ".[ray]")

`--format notes` writes small Markdown and text notes (one short chunk each, parsed by `unstructured`);
`--format passages` writes JSON files of synthetic passages of about 180 tokens (one chunk each, parsed by the
standard library): the shape of a big corpus cut into 200-token chunks. After the first ingest and an unchanged
re-run, each stage runs alone on the same data: parsing and chunking, the embedder on the stored chunk texts
(batches of --batch-size, as ingest does), and the store's upserts of the same points into a fresh collection.
End to end can be no faster than the slowest stage: the report names it. With `--ray` (`local`, the default, starts
a Ray of this machine and says how long that took), the same files are also ingested by the Ray runner into a fresh
collection, and its chunks/s are set against the plain ingest's.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embed import WORDS  # noqa: E402 - bench/embed.py, beside this file

from embedder import Embedder, tune_process  # noqa: E402
from ingest import IngestOptions, ingest_paths, setup_offline  # noqa: E402
from ingest.chunking import DEFAULT_CHUNK_TOKENS, tokenizer_chunker  # noqa: E402
from ingest.parse import parse_file  # noqa: E402
from ingest.pipeline import DEFAULT_BATCH_SIZE, GPU_BATCH_SIZE  # noqa: E402
from search.store import CLASSICAL, ECHO, ChunkPoint, open_collection  # noqa: E402

TOPICS = ["solar power", "river ecology", "tax forms", "bread baking", "network routing", "chess openings",
          "bird migration", "database indexes", "volcano safety", "violin practice"]


def write_notes(folder: Path, n: int) -> None:
    """`n` small Markdown and text notes of one short chunk each."""
    for i in range(n):
        topic = TOPICS[i % len(TOPICS)]
        sub = folder / f"group{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        body = (f"Note {i} is about {topic}. It records what was learned on day {i % 31 + 1} and why it matters. "
                f"The next step for {topic} is listed in item {i * 7 % 97}.")
        if i % 2:
            (sub / f"note{i}.md").write_text(f"# {topic.title()} {i}\n\n{body}\n")
        else:
            (sub / f"note{i}.txt").write_text(f"{body}\n")


def write_passages(folder: Path, n: int, per_file: int, words: int = 150, seed: int = 0) -> None:
    """`n` JSON files of `per_file` synthetic passages of `words` words (about 180 Gemma tokens) each."""
    rng = np.random.default_rng(seed)
    for i in range(n):
        sub = folder / f"group{i % 20:02d}"
        sub.mkdir(parents=True, exist_ok=True)
        passages = [f"Passage {i}.{j}: " + " ".join(rng.choice(WORDS, size=words)) + "." for j in range(per_file)]
        (sub / f"file{i}.json").write_text(json.dumps(passages))


def unit_rows(n: int, dim: int, seed: int = 0) -> np.ndarray:
    """`n` random L2-normalised rows: stand-ins for vectors where only the store's speed is measured."""
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--format", choices=("notes", "passages"), default="notes")
    parser.add_argument("--corpus", type=Path, metavar="FOLDER",
                        help="ingest a copy of these real documents instead of generated ones (--files and "
                             "--format are then ignored)")
    parser.add_argument("--chunks-per-file", type=int, default=20, help="passages per file (--format passages)")
    parser.add_argument("--model", default=None)
    parser.add_argument("--batch-size", type=int, help="chunks per embedding and upsert batch (default: ingest's)")
    parser.add_argument("--json", action="store_true", help="end with the figures as one JSON line")
    parser.add_argument("--ray", nargs="?", const="local", metavar="ADDRESS",
                        help="also ingest with the Ray runner: local (default) or a Ray address")
    parser.add_argument("--ray-actors", type=int, help="embedding actors of the Ray runner (default: ingest's)")
    args = parser.parse_args()

    setup_offline()
    tune_process()
    embedder = Embedder.from_pretrained(args.model)
    device = embedder.device
    where = (torch.cuda.get_device_name(device) if device.type == "cuda"
             else f"CPU {torch.backends.cpu.get_cpu_capability()}, {torch.get_num_threads()} threads")
    print(f"model: {embedder.fingerprint} on {where}, {str(embedder.dtype).replace('torch.', '')}", flush=True)
    batch_size = args.batch_size or (GPU_BATCH_SIZE if device.type == "cuda" else DEFAULT_BATCH_SIZE)
    fig: dict[str, object] = {"format": args.format, "files": args.files, "batch_size": batch_size,
                              "classical": embedder.classical_mode, "dtype": str(embedder.dtype).replace("torch.", ""),
                              "cpu": torch.backends.cpu.get_cpu_capability()}
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        if args.corpus:
            shutil.copytree(args.corpus, docs)
            args.files = sum(1 for path in docs.rglob("*") if path.is_file())
            fig |= {"format": f"corpus {args.corpus}", "files": args.files}
        elif args.format == "notes":
            write_notes(docs, args.files)
        else:
            write_passages(docs, args.files, args.chunks_per_file)
        store = open_collection(path=Path(tmp) / "qdrant")
        first = ingest_paths(IngestOptions(paths=[docs], batch_size=batch_size), store, embedder)
        e2e = first.chunks / first.seconds
        print(f"first ingest: {args.files} files, {first.chunks} chunks in {first.seconds:.1f} s "
              f"= {e2e:.1f} chunks/s end-to-end (failed: {first.count('failed')})", flush=True)

        if args.ray:
            fig |= bench_ray(args, docs, Path(tmp) / "qdrant-ray", embedder, batch_size, e2e)

        t0 = time.perf_counter()
        again = ingest_paths(IngestOptions(paths=[docs], batch_size=batch_size), store, embedder)
        rerun = time.perf_counter() - t0
        print(f"unchanged re-run: {again.count('unchanged')} unchanged, {again.chunks} chunks embedded, "
              f"{rerun:.2f} s", flush=True)

        records = dict(store.records())
        texts = [r.text for r in records.values()]
        store.close()

        chunker = tokenizer_chunker(embedder.tokenizer, DEFAULT_CHUNK_TOKENS)
        t0 = time.perf_counter()
        parsed = sum(1 for path in sorted(docs.rglob("*.*")) for _ in chunker.chunks(parse_file(path)))
        parse_rate = parsed / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        for i in range(0, len(texts), batch_size):
            embedder.encode(texts[i: i + batch_size], kind="document")
        if device.type == "cuda":
            torch.cuda.synchronize()
        embed_rate = len(texts) / (time.perf_counter() - t0)

        fresh = open_collection(path=Path(tmp) / "qdrant-store-only")
        fresh.ensure(embedder.fingerprint, embedder.describe(), embedder.dim)
        ids = list(records)
        echo, classical = unit_rows(len(ids), embedder.dim, 1), unit_rows(len(ids), embedder.dim, 2)
        points = [ChunkPoint(pid, {ECHO: echo[i], CLASSICAL: classical[i]}, records[pid]) for i, pid in enumerate(ids)]
        t0 = time.perf_counter()
        for i in range(0, len(points), batch_size):
            fresh.upsert(points[i: i + batch_size])
        fresh.optimize()
        store_rate = len(points) / (time.perf_counter() - t0)
        fresh.close()

    stages = {"parse and chunk": parse_rate, "embedder": embed_rate, "store upserts": store_rate}
    bound = min(stages, key=stages.__getitem__)
    for name, rate in stages.items():
        print(f"{name} alone: {rate:.1f} chunks/s", flush=True)
    print(f"end-to-end / embedder = {e2e / embed_rate:.3f}; slowest stage: {bound} "
          f"({stages[bound]:.1f} chunks/s, end to end is {e2e / stages[bound]:.2f} of it)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss:.0f} MiB")
    fig |= {"chunks": first.chunks, "end_to_end_chunks_per_s": round(e2e, 1), "unchanged_rerun_s": round(rerun, 2),
            "parse_chunks_per_s": round(parse_rate, 1), "embedder_chunks_per_s": round(embed_rate, 1),
            "store_chunks_per_s": round(store_rate, 1), "bound_by": bound, "peak_rss_mib": round(rss)}
    if args.json:
        print(json.dumps(fig))


def bench_ray(args: argparse.Namespace, docs: Path, folder: Path, embedder: Embedder, batch_size: int,
              plain_rate: float) -> dict[str, object]:
    """Start (or join) Ray, ingest `docs` with the Ray runner into a fresh collection at `folder`; its figures."""
    import ray

    from ingest.ray_runner import LOCAL, ingest_paths_ray, ray_session

    t0 = time.perf_counter()
    if args.ray == LOCAL:
        ray.init(include_dashboard=False, log_to_driver=False)
    startup = time.perf_counter() - t0
    with ray_session(args.ray):
        store = open_collection(path=folder)
        report = ingest_paths_ray(IngestOptions(paths=[docs], batch_size=batch_size), store, embedder,
                                  {"model": args.model}, address=args.ray, actors=args.ray_actors)
        store.close()
    ray.shutdown()
    rate = report.chunks / report.seconds
    print(f"ray ({args.ray}): start-up {startup:.1f} s; {report.chunks} chunks in {report.seconds:.1f} s = "
          f"{rate:.1f} chunks/s, {rate / plain_rate:.2f} of the plain ingest's (failed: {report.count('failed')})",
          flush=True)
    return {"ray_startup_s": round(startup, 1), "ray_chunks_per_s": round(rate, 1),
            "ray_over_plain": round(rate / plain_rate, 3)}


if __name__ == "__main__":
    main()
