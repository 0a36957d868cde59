"""Load test of `search serve` on loopback over a 10,000-chunk embedded collection.

    python bench/search.py [--chunks 10000] [--real 300] [--seconds 60] [--single-seconds 30] [--clients 16]
                           [--heavy-seconds 30] [--data-dir DIR] [--threads N] [--batch-wait-ms MS]
                           [--model NAME] [--mode both|echo|classical|bm25|hybrid|all]

Builds the collection (or reuses one in --data-dir): `--real` chunks of real English prose (Python standard
library docstrings) are embedded with the model; the rest are copies of their vectors with Gaussian noise added
(cosine about 0.96 to the original) under synthetic source names, because embedding 10,000 chunks on 2 cores
takes too long. Then starts `search serve` as a subprocess on 127.0.0.1 and runs: one client in a loop, then
`--clients` concurrent clients for `--seconds`, then a short repeated-query phase that shows the cache, then
`--heavy-seconds` of one client sending heavy questions (1,600 characters, near the token limit) in a loop
beside one client sending light ones: the light client's latency shows whether heavy requests starve it. Last, one
over-budget request (2,000 rare characters of query and of instruction) that must be refused at once. Every
request of the first two phases asks a distinct question (no cache hits). Prints p50/p95/p99 latency, requests/s,
errors, the server's own timing split (embed, search, queue, batch size) and the server's RSS over time.

`--mode` is the ranking every request asks for (the service's `mode`; default `both`, echo and classical). The
server inherits the environment, so `ECHO_SEARCH_FUSION=rrf` (and the other fusion settings) choose how `hybrid`
fuses. After building, the collection's disk use per point is printed (the embedded store's folder).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

# This file is bench/search.py: drop its folder from the path so `import search` finds the package, not itself.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

MODULES = (
    "argparse asyncio base64 bisect calendar collections configparser contextlib csv dataclasses datetime decimal "
    "difflib email enum fractions ftplib functools gzip hashlib heapq hmac html http.client http.cookies imaplib "
    "inspect io ipaddress itertools json logging mailbox mimetypes operator optparse os pathlib pickle pprint "
    "queue random re sched secrets selectors shelve shlex shutil signal smtplib socket sqlite3 statistics string "
    "struct subprocess tarfile tempfile textwrap threading timeit tokenize traceback typing unittest urllib.parse "
    "urllib.request uuid warnings weakref xml.dom.minidom zipfile zoneinfo"
)


def prose_chunks(limit: int, seed: int = 0) -> list[tuple[str, str]]:
    """(source, text) chunks of 30 to 150 words from standard-library docstrings."""
    chunks: list[tuple[str, str]] = []
    for name in MODULES.split():
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        objects = [module, *(getattr(module, a) for a in sorted(vars(module)) if not a.startswith("_"))]
        for obj in objects:
            doc = inspect.getdoc(obj) if (inspect.isclass(obj) or inspect.isfunction(obj) or obj is module) else None
            if not doc:
                continue
            words: list[str] = []
            for para in re.split(r"\n\s*\n", doc):
                words += para.split()
                if len(words) >= 30:
                    chunks.append((f"stdlib/{name}.txt", " ".join(words[:150])))
                    words = []
    unique = list(dict.fromkeys(chunks))
    random.Random(seed).shuffle(unique)
    return unique[:limit]


def questions(chunks: list[tuple[str, str]], n: int, seed: int = 1) -> list[str]:
    """Distinct questions of 6 to 14 words taken from the chunks' sentences."""
    rng = random.Random(seed)
    out: set[str] = set()
    starts = ("how do I", "what does", "when should I use", "why would", "where can I find")
    while len(out) < n:
        words = rng.choice(chunks)[1].split()
        i = rng.randrange(max(1, len(words) - 14))
        out.add(f"{rng.choice(starts)} {' '.join(words[i:i + rng.randint(6, 14)])}?")
    return sorted(out, key=lambda _: rng.random())


def build_collection(data_dir: Path, total: int, real: int, model: str | None) -> str:
    """Fill `data_dir` with `total` points (reused when it already holds them); returns a description."""
    from embedder import Embedder, tune_process
    from search.store import ChunkPoint, ChunkRecord, open_collection, point_id

    tune_process()
    emb = Embedder.from_pretrained(model)
    store = open_collection(path=data_dir / "qdrant")
    if store.exists() and store.info().points == total and store.fingerprint() == emb.fingerprint:
        store.close()
        return f"reused {total} points in {data_dir}"
    if store.exists():
        store.close()
        shutil.rmtree(data_dir / "qdrant")
        store = open_collection(path=data_dir / "qdrant")
    try:
        chunks = prose_chunks(real)
        t0 = time.perf_counter()
        vectors = emb.encode([text for _, text in chunks], kind="document")
        embed_s = time.perf_counter() - t0
        store.ensure(emb.fingerprint, emb.describe(), emb.dim)
        rng = np.random.default_rng(0)
        points = []
        for j in range(total):
            i = j % len(chunks)
            source, text = chunks[i]
            echo, classical = vectors.echo[i], vectors.classical[i]
            if j >= len(chunks):  # a noisy copy: same text, vector moved by noise of norm 0.3
                source = f"synthetic/{j // len(chunks):03d}/{source}"
                echo = echo + rng.standard_normal(emb.dim).astype(np.float32) * 0.3 / np.sqrt(emb.dim)
                classical = classical + rng.standard_normal(emb.dim).astype(np.float32) * 0.3 / np.sqrt(emb.dim)
            record = ChunkRecord(source, j, text, content_hash="bench")
            points.append(ChunkPoint(point_id(source, j, "bench"), {"echo": echo, "classical": classical}, record))
        t1 = time.perf_counter()
        for start in range(0, len(points), 500):
            store.upsert(points[start: start + 500])
        store.optimize()
        return (f"built {total} points in {data_dir}: {len(chunks)} real chunks embedded in {embed_s:.0f} s, "
                f"{total - len(chunks)} noise-perturbed copies; upsert and index {time.perf_counter() - t1:.0f} s")
    finally:
        store.close()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Phase:
    name: str
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    server: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    def record(self, started: float, response: httpx.Response | None, error: str | None = None) -> None:
        if response is not None and response.status_code == 200:
            self.latencies.append((time.perf_counter() - started) * 1000)
            self.server.append(response.json()["timings"])
            return
        key = error or f"HTTP {response.status_code if response is not None else '?'}"
        self.errors[key] = self.errors.get(key, 0) + 1

    def report(self) -> str:
        n = len(self.latencies)
        if not n:
            return f"{self.name}: no successful requests; errors {self.errors}"
        p50, p95, p99 = np.percentile(self.latencies, [50, 95, 99])
        med = {key: float(np.median([t[key] for t in self.server])) for key in self.server[0]}
        return (
            f"{self.name}: {n} ok, {sum(self.errors.values())} errors {self.errors or ''}, "
            f"{n / self.seconds:.2f} req/s over {self.seconds:.1f} s\n"
            f"    latency ms  p50 {p50:.0f}  p95 {p95:.0f}  p99 {p99:.0f}  max {max(self.latencies):.0f}\n"
            f"    server medians: embed {med['embed_ms']:.0f} ms, search {med['search_ms']:.0f} ms, "
            f"queue {med['queue_ms']:.0f} ms, total {med['total_ms']:.0f} ms, batch size {med['batch_size']:.0f}"
        )


MODE = "both"
"""The `mode` of every request (`--mode`)."""


def single_client(url: str, qs: list[str], seconds: float, k: int, name: str) -> Phase:
    phase = Phase(name)
    with httpx.Client(base_url=url, timeout=60) as client:
        start = time.perf_counter()
        for q in qs:
            if time.perf_counter() - start >= seconds:
                break
            t = time.perf_counter()
            try:
                phase.record(t, client.post("/search", json={"query": q, "k": k, "mode": MODE}))
            except httpx.HTTPError as exc:
                phase.record(t, None, type(exc).__name__)
        phase.seconds = time.perf_counter() - start
    return phase


async def timed_search(client: httpx.AsyncClient, phase: Phase, q: str, k: int) -> None:
    """One `/search` request, its latency or error recorded in `phase`."""
    t = time.perf_counter()
    try:
        phase.record(t, await client.post("/search", json={"query": q, "k": k, "mode": MODE}))
    except httpx.HTTPError as exc:
        phase.record(t, None, type(exc).__name__)


async def concurrent_clients(url: str, qs: list[str], seconds: float, clients: int, k: int) -> Phase:
    phase = Phase(f"{clients} concurrent clients")
    pending = iter(qs)
    start = time.perf_counter()

    async def client_loop(client: httpx.AsyncClient) -> None:
        while time.perf_counter() - start < seconds:
            q = next(pending, None)
            if q is None:
                return
            await timed_search(client, phase, q, k)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        await asyncio.gather(*(client_loop(client) for _ in range(clients)))
    phase.seconds = time.perf_counter() - start
    return phase


def heavy_questions(chunks: list[tuple[str, str]], n: int, chars: int = 1600, seed: int = 2) -> list[str]:
    """Distinct questions of `chars` characters of the chunks' words: long, but within the default token budget."""
    rng = random.Random(seed)
    words = [w for _, text in chunks for w in text.split()]
    out = []
    for _ in range(n):
        start = rng.randrange(len(words))
        text = " ".join(words[start:] + words[:start])
        out.append(f"{rng.randrange(10**6)} {text}"[:chars])
    return out


async def heavy_and_light(url: str, heavy: list[str], light: list[str], seconds: float, k: int) -> list[Phase]:
    """One client in a loop with heavy questions and one with light ones, side by side."""
    phases = [Phase("heavy client (1,600 characters a question)"), Phase("light client beside it")]
    start = time.perf_counter()

    async def client_loop(client: httpx.AsyncClient, phase: Phase, qs: list[str]) -> None:
        for q in qs:
            if time.perf_counter() - start >= seconds:
                return
            await timed_search(client, phase, q, k)

    async with httpx.AsyncClient(base_url=url, timeout=300) as client:
        await asyncio.gather(*(client_loop(client, p, qs) for p, qs in zip(phases, (heavy, light), strict=True)))
    for phase in phases:
        phase.seconds = time.perf_counter() - start
    return phases


def over_budget(url: str) -> str:
    """One request over the token budget: its status, how fast the refusal came, and the message."""
    rare = "\U0002a6d6\u0f00\U0001d11e"  # characters that take several tokens each
    body = {"query": (rare * 700)[:2000], "instruction": (rare * 700)[:2000]}
    t = time.perf_counter()
    response = httpx.post(f"{url}/search", json=body, timeout=300)
    ms = (time.perf_counter() - t) * 1000
    return f"over-budget request: HTTP {response.status_code} in {ms:.0f} ms: {response.json().get('detail')}"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=10_000, help="points in the collection")
    parser.add_argument("--real", type=int, default=300, help="real chunks to embed (the rest are noisy copies)")
    parser.add_argument("--seconds", type=float, default=60, help="duration of the concurrent phase")
    parser.add_argument("--single-seconds", type=float, default=30, help="duration of the single-client phase")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--heavy-seconds", type=float, default=30, help="duration of the heavy + light phase")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--data-dir", type=Path, help="keep (and reuse) the built collection here")
    parser.add_argument("--threads", type=int, help="torch threads in the server (`search serve --threads`)")
    parser.add_argument("--batch-wait-ms", type=float, help="the server's `--batch-wait-ms` (default: its own)")
    parser.add_argument("--model", help="model of the collection and the server (default: packaged default)")
    parser.add_argument("--mode", default="both", choices=["both", "echo", "classical", "bm25", "hybrid", "all"],
                        help="the ranking every request asks for")
    args = parser.parse_args()
    global MODE
    MODE = args.mode

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="bench-search-"))
    print(f"load average at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    print(build_collection(data_dir, args.chunks, args.real, args.model), flush=True)
    disk = sum(f.stat().st_size for f in (data_dir / "qdrant").rglob("*") if f.is_file())
    print(f"disk: {disk / 1e6:.0f} MB, {disk / args.chunks:,.0f} bytes per point; requests ask mode {MODE!r}",
          flush=True)
    qs = questions(prose_chunks(args.real), 20_000)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-c", "from search.cli.app import main; main()", "serve", "--port", str(port),
               "--data-dir", str(data_dir)]
    command += ["--threads", str(args.threads)] if args.threads else []
    command += ["--batch-wait-ms", str(args.batch_wait_ms)] if args.batch_wait_ms is not None else []
    command += ["--model", args.model] if args.model else []
    env = {k: v for k, v in os.environ.items() if k not in ("QDRANT_URL", "SEARCH_API_KEY")}
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    rss: list[tuple[float, float]] = []
    stop = threading.Event()
    try:
        t0 = time.perf_counter()
        while True:
            if server.poll() is not None:
                sys.exit(f"search serve exited: {server.stderr.read() if server.stderr else ''}")
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        print(f"server ready in {time.perf_counter() - t0:.1f} s (pid {server.pid}), "
              f"RSS {rss_mib(server.pid):.0f} MiB", flush=True)
        info = httpx.get(f"{url}/collection", timeout=120).json()
        print(f"collection: {info['points']} points, {info['files']} files", flush=True)

        def sample() -> None:
            while not stop.wait(1.0):
                rss.append((time.perf_counter(), rss_mib(server.pid)))

        threading.Thread(target=sample, daemon=True).start()
        used = 0
        single_client(url, qs[:5], 60, args.k, "warm-up")
        used += 5
        single = single_client(url, qs[used:], args.single_seconds, args.k, "single client")
        used += len(single.latencies) + sum(single.errors.values())
        print(single.report(), flush=True)
        rss_before = rss_mib(server.pid)
        t_conc = time.perf_counter()
        conc = asyncio.run(concurrent_clients(url, qs[used:], args.seconds, args.clients, args.k))
        print(conc.report(), flush=True)
        during = [m for t, m in rss if t >= t_conc]
        print(f"    server RSS MiB: before {rss_before:.0f}, during min {min(during, default=0):.0f} "
              f"max {max(during, default=0):.0f}, after {rss_mib(server.pid):.0f}", flush=True)
        ratio = (len(conc.latencies) / conc.seconds) / (len(single.latencies) / single.seconds)
        print(f"    throughput {ratio:.2f}x the single client's", flush=True)
        cached = single_client(url, [q for q in qs[:20] for _ in range(10)], 10, args.k, "repeated (cache)")
        print(cached.report(), flush=True)
        used += len(conc.latencies) + sum(conc.errors.values())
        heavy = heavy_questions(prose_chunks(args.real), 2_000)
        for phase in asyncio.run(heavy_and_light(url, heavy, qs[used:], args.heavy_seconds, args.k)):
            print(phase.report(), flush=True)
        print(over_budget(url), flush=True)
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
