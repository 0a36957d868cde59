"""Ingest benchmark: a corpus of small files in a temp dir, first ingest, unchanged re-run, and end-to-end chunks/s
against the embedder's own chunks/s on the same chunks (same batch size).

    .venv/bin/python bench/ingest.py [--files 1000] [--model gemma-3-270m] [--batch-size 32]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedder import Embedder  # noqa: E402
from ingest import ingest_paths  # noqa: E402
from search.store import TEXT, Store  # noqa: E402

TOPICS = ["solar power", "river ecology", "tax forms", "bread baking", "network routing", "chess openings",
          "bird migration", "database indexes", "volcano safety", "violin practice"]


def make_corpus(folder: Path, n: int) -> None:
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--model", default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    embedder = Embedder.from_pretrained(args.model)
    with tempfile.TemporaryDirectory() as tmp:
        docs = Path(tmp) / "docs"
        make_corpus(docs, args.files)
        store = Store.open(path=Path(tmp) / "qdrant")
        first = ingest_paths([docs], store, embedder, batch_size=args.batch_size)
        e2e = first.chunks / first.seconds
        print(f"model: {embedder.fingerprint}")
        print(f"first ingest: {args.files} files, {first.chunks} chunks in {first.seconds:.1f} s "
              f"= {e2e:.2f} chunks/s end-to-end (failed: {first.count('failed')})")

        t0 = time.perf_counter()
        again = ingest_paths([docs], store, embedder, batch_size=args.batch_size)
        rerun = time.perf_counter() - t0
        print(f"unchanged re-run: {again.count('unchanged')} unchanged, {again.chunks} chunks embedded, "
              f"{rerun:.2f} s (target < 5 s)")

        texts, offset = [], None
        while True:
            page, offset = store.client.scroll(store.collection, limit=1000, offset=offset, with_payload=[TEXT])
            texts += [str(p.payload[TEXT]) for p in page]
            if offset is None:
                break
        store.close()
        t0 = time.perf_counter()
        for i in range(0, len(texts), args.batch_size):
            embedder.encode(texts[i: i + args.batch_size], kind="document")
        own = len(texts) / (time.perf_counter() - t0)
        print(f"embedder alone on the same {len(texts)} chunks: {own:.2f} chunks/s")
        print(f"end-to-end / embedder = {e2e / own:.3f} (target >= 0.85)")
        print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
