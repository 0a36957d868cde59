"""Which hidden layer, and whether to center: echo and classical scored at every layer from one forward pass.

Echo and the embedder's own classical vectors (`Embedder.classical_prompt`). STS-B (Spearman) with the symmetric
echo template, and optionally retrieval (nDCG@10) on a BEIR-layout corpus
held in memory, with the instructed query + `Document:` pair, under one or more query instructions (the documents
are embedded once). Centering subtracts the mean of the scored
texts' own vectors (STS: all sentences of the split; retrieval: the documents' mean, applied to queries and
documents alike, as `Embedder.fit_center` does for a collection). With `mean_row`, a last row pools the mean of
the swept layers' vectors (each L2-normalised, so every layer weighs the same; no fitted weight).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from embedder import Embedder
from embedder.centering import normalise
from embedder.templates import DEFAULT_INSTRUCTION, Template
from search.evaluation.data import DataError, StsPair, load_qrels, load_queries
from search.evaluation.metrics import retrieval_scores, spearman


@dataclass
class LayerRow:
    """Scores x 100 of one hidden layer (or "mean 13-17", the mean of the swept layers' vectors): keys like
    `echo sts`, `classical sts centered`, `echo nDCG@10`, `echo nDCG@10 [2]` (under the second instruction)."""

    layer: int | str
    scores: dict[str, float] = field(default_factory=dict)


def load_corpus(path: Path) -> dict[str, str]:
    """BEIR corpus.jsonl: `{"_id", "title", "text"}` per line; title and text joined by a newline."""
    out = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            out[str(row["_id"])] = "\n".join(x for x in (row.get("title"), row["text"]) if x)
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise DataError(f"{path}:{number}: expected {{_id, title, text}}: {exc}") from None
    return out


def _center(matrix: np.ndarray, mean: np.ndarray) -> np.ndarray:
    return normalise(matrix - mean)


def _by_layer(
    embedder: Embedder, texts: Sequence[str], template: Template, layers: Sequence[int], mean_row: bool,
    instruction: str = DEFAULT_INSTRUCTION,
) -> list[np.ndarray]:
    """The texts' vectors at each layer (one forward pass), plus their layer mean with `mean_row`."""
    vectors = list(embedder.embed_layers(texts, template, layers, instruction=instruction))
    return vectors + [normalise(np.mean(vectors, axis=0))] if mean_row else vectors


def sts_by_layer(
    embedder: Embedder, pairs: Sequence[StsPair], layers: Sequence[int], *, mean_row: bool = False,
    classical: bool = True,
) -> dict[str, np.ndarray]:
    """Spearman x 100 per layer (and the layer mean with `mean_row`) for echo and (with `classical`) classical,
    plain and centered: name -> array over the rows."""
    unique = list(dict.fromkeys(t for p in pairs for t in (p.first, p.second)))
    index = {t: i for i, t in enumerate(unique)}
    a = [index[p.first] for p in pairs]
    b = [index[p.second] for p in pairs]
    gold = [p.score for p in pairs]
    out = {}
    own = embedder.classical_prompt("symmetric") if classical else None  # the embedder's own classical vectors
    for name, template in (("echo", embedder.preset.symmetric), ("classical", own)):
        if template is None:
            continue
        vectors = _by_layer(embedder, unique, template, layers, mean_row)
        for suffix, transform in (("", lambda m: m), (" centered", lambda m: _center(m, m.mean(0)))):
            scores = []
            for matrix in vectors:
                v = transform(matrix)
                scores.append(spearman((v[a] * v[b]).sum(1), gold))
            out[f"{name} sts{suffix}"] = np.array(scores)
    return out


def retrieval_by_layer(
    embedder: Embedder, corpus: dict[str, str], queries: dict[str, str], qrels: dict[str, dict[str, int]],
    layers: Sequence[int], k: int = 10, *, mean_row: bool = False, classical: bool = True,
    instructions: Sequence[str] = (DEFAULT_INSTRUCTION,),
) -> dict[str, np.ndarray]:
    """nDCG@k x 100 per layer (and the layer mean with `mean_row`) for echo (instructed query, document prompt) and
    (with `classical`) classical, plain and centered. Echo queries are embedded under each of `instructions`
    (columns of the second and later ones end in ` [2]`, ` [3]`, ...); classical queries have no instruction."""
    qids = [q for q in queries if any(r > 0 for r in qrels.get(q, {}).values())]
    dids = list(corpus)
    docs_text = [corpus[d] for d in dids]
    query_text = [queries[q] for q in qids]
    out = {}
    for name, doc_template, query_template in (
        ("echo", embedder.preset.document, embedder.preset.query),
        ("classical", embedder.classical_prompt("document") if classical else None, embedder.classical_prompt("query")),
    ):
        if doc_template is None or query_template is None:
            continue
        docs = _by_layer(embedder, docs_text, doc_template, layers, mean_row)
        wordings = instructions if name == "echo" else instructions[:1]
        for n, instruction in enumerate(wordings, start=1):
            qs = _by_layer(embedder, query_text, query_template, layers, mean_row, instruction)
            for suffix in ("", " centered"):
                scores = []
                for d, q in zip(docs, qs, strict=True):
                    if suffix:
                        mean = d.mean(0)
                        d, q = _center(d, mean), _center(q, mean)
                    order = np.argsort(-(q @ d.T), axis=1, kind="stable")
                    rankings = {qid: [dids[j] for j in order[i][:k]] for i, qid in enumerate(qids)}
                    scores.append(retrieval_scores(rankings, qrels, k)[f"nDCG@{k}"])
                out[f"{name} nDCG@{k}{suffix}" + (f" [{n}]" if n > 1 else "")] = np.array(scores)
    return out


def run_layer_sweep(
    embedder: Embedder, pairs: Sequence[StsPair], *, retrieval: tuple[Path, Path, Path] | None = None,
    layers: Sequence[int] | None = None, mean_row: bool = False, classical: bool = True,
    instructions: Sequence[str] = (DEFAULT_INSTRUCTION,),
) -> list[LayerRow]:
    """One row per layer (default: every hidden state, 0 = embeddings .. L = last), and with `mean_row` a last row
    for the mean of those layers' vectors."""
    picked = list(layers) if layers is not None else list(range(int(embedder.model.config.num_hidden_layers) + 1))
    columns = sts_by_layer(embedder, pairs, picked, mean_row=mean_row, classical=classical) if pairs else {}
    if retrieval:
        corpus_path, queries_path, qrels_path = retrieval
        columns |= retrieval_by_layer(embedder, load_corpus(corpus_path), load_queries(queries_path),
                                      load_qrels(qrels_path), picked, mean_row=mean_row, classical=classical,
                                      instructions=instructions)
    labels: list[int | str] = list(picked)
    if mean_row:
        contiguous = picked == list(range(picked[0], picked[0] + len(picked)))
        labels.append(f"mean {picked[0]}-{picked[-1]}" if contiguous else "mean " + ",".join(map(str, picked)))
    return [LayerRow(label, {name: float(values[i]) for name, values in columns.items()})
            for i, label in enumerate(labels)]


def markdown(rows: Sequence[LayerRow]) -> str:
    """The sweep as a markdown table, the best value of each column in bold."""
    names = list(rows[0].scores)
    best = {n: max(r.scores[n] for r in rows) for n in names}
    lines = ["| layer | " + " | ".join(names) + " |", "| ---: | " + " | ".join("---:" for _ in names) + " |"]
    for row in rows:
        cells = [f"**{row.scores[n]:.1f}**" if row.scores[n] == best[n] else f"{row.scores[n]:.1f}" for n in names]
        lines.append(f"| {row.layer} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
