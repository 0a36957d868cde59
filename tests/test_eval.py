"""`search eval` on the tiny random model: methods, bidirectional attention, tasks, output, CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
import torch
from typer.testing import CliRunner

from embedder import CLASSICAL, SYMMETRIC, Embedder
from search.evaluation.bidirectional import BidirectionalModel, real_tokens, supports_bidirectional
from search.evaluation.cli import eval_app
from search.evaluation.data import EXAMPLE_DIR, load_qrels, load_queries, load_sts, load_toy
from search.evaluation.methods import METHODS, pick_methods
from search.evaluation.report import markdown, plot
from search.evaluation.tasks import run_retrieval, run_sts, run_toy
from search.query.request import SearchQuery
from search.store import open_collection

TEXTS = ["a short one", "a somewhat longer sentence about the weather in spring"]


def _first_state(model: torch.nn.Module, ids: list[int]) -> torch.Tensor:
    return model(input_ids=torch.tensor([ids])).last_hidden_state[0, 0]


@torch.inference_mode()

def write_tiny_beir(folder: Path) -> tuple[Path, Path, Path]:
    """A three-document BEIR set with one query (about rivers, answered by d0): corpus, queries and qrels paths."""
    corpus = folder / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"_id": f"d{i}", "title": "", "text": t}) + "\n"
                              for i, t in enumerate(["rivers and seas", "stocks fell", "cats sleep a lot"])))
    queries = folder / "queries.jsonl"
    queries.write_text(json.dumps({"_id": "q", "text": "where do rivers go?"}) + "\n")
    qrels = folder / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\nq\td0\t1\n")
    return corpus, queries, qrels

def test_bidirectional_mask_lets_early_tokens_see_later_ones(tiny_embedder: Embedder) -> None:
    ids = tiny_embedder.prompt.special_prefix + tiny_embedder.prompt.text_ids("hello world", False)
    changed = ids[:-1] + [ids[-1] + 1]
    causal, bi = tiny_embedder.model, BidirectionalModel(tiny_embedder.model, pad_id=0)
    assert torch.equal(_first_state(causal, ids), _first_state(causal, changed))
    assert not torch.allclose(_first_state(bi, ids), _first_state(bi, changed))
    assert supports_bidirectional(tiny_embedder)


@torch.inference_mode()
def test_bidirectional_on_gemma3(tmp_path: Path) -> None:
    from transformers import Gemma3TextConfig, Gemma3TextModel

    torch.manual_seed(0)
    config = Gemma3TextConfig(vocab_size=300, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                              num_attention_heads=4, num_key_value_heads=1, head_dim=16, sliding_window=4,
                              attn_implementation="sdpa")
    model = Gemma3TextModel(config).eval()
    ids = list(range(2, 12))
    changed = ids[:-1] + [99]
    assert torch.equal(_first_state(model, ids), _first_state(model, changed))
    bi = BidirectionalModel(model, pad_id=0)
    assert not torch.allclose(_first_state(bi, ids), _first_state(bi, changed))


def test_real_tokens_hides_trailing_padding_only() -> None:
    ids = torch.tensor([[5, 0, 7, 0, 0], [5, 6, 7, 8, 9]])
    assert real_tokens(ids, pad_id=0).tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]


def test_bidirectional_vectors_do_not_depend_on_batch_padding(tiny_embedder: Embedder) -> None:
    method = next(m for m in METHODS if m.bidirectional)
    alone = method.embed(tiny_embedder, TEXTS[:1])
    padded = method.embed(tiny_embedder, TEXTS)  # the short text is padded in the same batch as the long one
    np.testing.assert_allclose(alone[0], padded[0], atol=1e-5)
    causal = pick_methods("classical")[0].embed(tiny_embedder, TEXTS)
    assert not np.allclose(padded, causal, atol=1e-3)


def test_methods_pool_what_they_say(tiny_embedder: Embedder) -> None:
    by_name = {m.name: m for m in METHODS}
    emb = tiny_embedder
    np.testing.assert_allclose(by_name["echo"].embed(emb, TEXTS), emb.embed(TEXTS, SYMMETRIC), atol=1e-6)
    np.testing.assert_allclose(by_name["classical-first-span"].embed(emb, TEXTS),
                               emb.embed(TEXTS, SYMMETRIC, span="first"), atol=1e-6)
    np.testing.assert_allclose(by_name["classical-last"].embed(emb, TEXTS),
                               emb.embed(TEXTS, CLASSICAL, pooling="last"), atol=1e-6)
    matched = by_name["echo-compute-matched"].embed(emb, TEXTS)
    for text, vector in zip(TEXTS, matched, strict=True):
        budget = math.ceil(len(emb.prompt.text_ids(text, leading_space=True)) / 2)  # as it reads after "...: "
        np.testing.assert_allclose(vector, emb.embed([text], SYMMETRIC, max_text_tokens=budget)[0], atol=1e-6)
    with pytest.raises(ValueError, match="unknown method 'nope'"):
        pick_methods("echo,nope")


def test_toy_task_end_to_end(tiny_embedder: Embedder) -> None:
    report = run_toy(tiny_embedder, pick_methods("echo,classical,classical-bidirectional"))
    assert [r.method for r in report.rows] == ["echo", "classical", "classical-bidirectional"]
    assert report.metrics == ["early", "late", "all"] and report.size == 40
    toy = load_toy()
    for row in report.rows[:2]:  # the causal methods, recomputed by hand from the embedder
        method = next(m for m in METHODS if m.name == row.method)
        vec = method.embed(tiny_embedder, [t for r in toy for t in (r.query, r.positive, r.negative)], "symmetric", 0)
        q, pos, neg = vec[0::3], vec[1::3], vec[2::3]
        wins = (q * pos).sum(1) > (q * neg).sum(1)
        early = np.array([r.structure == "early" for r in toy])
        assert row.scores["early"] == pytest.approx(100 * wins[early].mean())
        assert row.scores["late"] == pytest.approx(100 * wins[~early].mean())
        assert row.scores["all"] == pytest.approx(100 * wins.mean())


def test_prompt_sensitivity_reports_mean_and_spread(tiny_embedder: Embedder) -> None:
    report = run_sts(tiny_embedder, pick_methods("echo,prompteol"), limit=30, wordings=3)
    assert report.wordings == 3 and report.size == 30
    for row in report.rows:
        runs = [w["spearman"] for w in row.per_wording]
        assert len(runs) == 3 and len(set(runs)) == 3  # three different prompts give three different scores
        assert row.scores["spearman"] == pytest.approx(np.mean(runs))
        assert row.spread["spearman"] == pytest.approx(np.std(runs))
    assert "±" in markdown(report)


def test_report_outputs(tiny_embedder: Embedder, tmp_path: Path) -> None:
    report = run_sts(tiny_embedder, pick_methods("echo,classical"), limit=20)
    data = json.loads(report.to_json())
    assert data["task"] == "sts" and data["size"] == 20
    assert [r["method"] for r in data["rows"]] == ["echo", "classical"]
    pairs = load_sts("dev")[:20]
    echo = next(m for m in METHODS if m.name == "echo")
    firsts = echo.embed(tiny_embedder, [p.first for p in pairs], "symmetric", 0)
    seconds = echo.embed(tiny_embedder, [p.second for p in pairs], "symmetric", 0)
    expected = 100 * scipy.stats.spearmanr((firsts * seconds).sum(1), [p.score for p in pairs]).statistic
    assert data["rows"][0]["scores"]["spearman"] == pytest.approx(expected, abs=1e-6)
    plot(report, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _ingest_example(embedder: Embedder, folder: Path):  # noqa: ANN202 - a Searcher
    from ingest.options import IngestOptions
    from ingest.pipeline import ingest_paths
    from search.query.searcher import Searcher

    store = open_collection(path=folder)
    report = ingest_paths(IngestOptions(paths=[EXAMPLE_DIR / "corpus"]), store, embedder)
    assert not [f for f in report.files if f.status == "failed"]
    return Searcher(store=store, embedder=embedder)


def test_retrieval_on_an_ingested_collection(tiny_embedder: Embedder, tmp_path: Path) -> None:
    searcher = _ingest_example(tiny_embedder, tmp_path / "qdrant")
    queries, qrels = load_queries(EXAMPLE_DIR / "queries.jsonl"), load_qrels(EXAMPLE_DIR / "qrels.tsv")
    try:
        report = run_retrieval(searcher, EXAMPLE_DIR / "queries.jsonl", EXAMPLE_DIR / "qrels.tsv", emb=tiny_embedder,
                               reembed=pick_methods("echo,classical-first-span", retrieval=True))
        # nDCG@10 and MRR@10 of the collection's own rankings, recomputed by hand from the search hits.
        expected: dict[str, tuple[float, float]] = {}
        for mode in ("echo", "classical", "bm25", "hybrid"):
            ndcg, mrr = [], []
            for qid, text in queries.items():
                grades = qrels[qid]
                result = searcher.search(SearchQuery(text, k=100, mode=mode))  # type: ignore[arg-type]
                top = list(dict.fromkeys(Path(h.source).name for h in getattr(result, mode)))[:10]
                dcg = sum(grades.get(doc, 0) / math.log2(rank + 1) for rank, doc in enumerate(top, start=1))
                ideal = sorted(grades.values(), reverse=True)[:10]
                ndcg.append(dcg / sum(g / math.log2(rank + 1) for rank, g in enumerate(ideal, start=1)))
                mrr.append(next((1 / rank for rank, doc in enumerate(top, start=1) if grades.get(doc, 0)), 0.0))
            expected[f"{mode} (collection)"] = (100 * float(np.mean(ndcg)), 100 * float(np.mean(mrr)))
    finally:
        searcher.store.close()
    rows = {r.method: r for r in report.rows}
    assert list(rows) == ["echo (collection)", "classical (collection)", "bm25 (collection)", "hybrid (collection)",
                          "echo", "classical-first-span"]
    assert "dbsf" in rows["hybrid (collection)"].description  # the fusion that was measured is recorded
    assert report.size == 8 and report.notes == []
    for name, (ndcg, mrr) in expected.items():
        assert rows[name].scores["nDCG@10"] == pytest.approx(ndcg)
        assert rows[name].scores["MRR@10"] == pytest.approx(mrr)
    # Re-embedding the chunks with the product's own templates must reproduce the stored vectors' rankings.
    # The stored classical vectors are the default's, the echo pass's first copy.
    assert searcher.embedder.classical_mode == "first_span"
    for stored, fresh in (("echo (collection)", "echo"), ("classical (collection)", "classical-first-span")):
        for metric in report.metrics:
            assert rows[stored].scores[metric] == pytest.approx(rows[fresh].scores[metric], abs=1e-6)


def test_cli_toy_json_and_errors(tiny_model_dir: Path) -> None:
    runner = CliRunner()
    args = ["--model", str(tiny_model_dir), "--device", "cpu", "--dtype", "float32"]
    result = runner.invoke(eval_app, ["toy", "--methods", "echo,classical", "--json", *args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["task"] == "toy" and [r["method"] for r in data["rows"]] == ["echo", "classical"]
    md = runner.invoke(eval_app, ["toy", "--methods", "echo", "--markdown", *args])
    assert md.exit_code == 0 and md.stdout.startswith("| method | early | late | all |")
    bad = runner.invoke(eval_app, ["toy", "--methods", "nope", *args])
    assert bad.exit_code == 2 and "unknown method 'nope'" in bad.output and "Traceback" not in bad.output


def test_cli_a_library_value_error_is_internal_not_usage(tiny_model_dir: Path, monkeypatch) -> None:
    import search.evaluation.tasks
    from search.cli.app import app as search_app

    def broken(*args: object, **kwargs: object) -> None:
        raise ValueError("operands could not be broadcast together")

    monkeypatch.setattr(search.evaluation.tasks, "run_toy", broken)
    result = CliRunner().invoke(search_app, ["eval", "toy", "--methods", "echo", "--model", str(tiny_model_dir),
                                             "--device", "cpu", "--dtype", "float32"])
    assert result.exit_code == 4, result.output
    assert "internal error" in result.output and "ValueError: operands" in result.output


def test_cli_sts_table_and_plot(tiny_model_dir: Path, tmp_path: Path) -> None:
    chart = tmp_path / "sts.png"
    result = CliRunner().invoke(eval_app, ["sts", "--limit", "10", "--methods", "echo", "--plot", str(chart),
                                           "--model", str(tiny_model_dir), "--device", "cpu", "--dtype", "float32"])
    assert result.exit_code == 0, result.output
    assert "spearman" in result.stdout and "echo" in result.stdout and chart.is_file()


def test_cli_retrieval_reports_missing_collection(tiny_model_dir: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(eval_app, [
        "retrieval", "--queries", str(EXAMPLE_DIR / "queries.jsonl"), "--qrels", str(EXAMPLE_DIR / "qrels.tsv"),
        "--data-dir", str(tmp_path), "--collection", "nothing", "--model", str(tiny_model_dir), "--device", "cpu"])
    assert result.exit_code == 3 and "ingest" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_real_model_echo_beats_classical_where_the_deciding_words_come_late(real_embedder: Embedder) -> None:
    report = run_toy(real_embedder, pick_methods("echo,classical"))
    echo, classical = (r.scores for r in report.rows)
    assert echo["late"] > classical["late"]


@pytest.mark.slow
def test_real_model_sts_slice(real_embedder: Embedder) -> None:
    # Measured on the first 200 dev pairs (Gemma-3-270M bf16, last layer, the default): echo 79.1, classical 55.4.
    # Loose bounds: a span
    # or BOS bug costs far more than that.
    report = run_sts(real_embedder, pick_methods("echo,classical"), limit=200)
    echo, classical = (r.scores["spearman"] for r in report.rows)
    assert echo > 70
    assert echo - classical > 10


def test_layer_sweep_matches_direct_embeddings(tiny_embedder: Embedder, tiny_model_dir: Path, tmp_path: Path) -> None:
    """Each row is what `embed` gives at that layer; the centered columns subtract the scored texts' own mean."""
    import dataclasses

    from search.evaluation.metrics import spearman
    from search.evaluation.sweep import run_layer_sweep

    pairs = load_sts("dev")[:12]
    corpus, queries, qrels = write_tiny_beir(tmp_path)
    rows = run_layer_sweep(tiny_embedder, pairs, retrieval=(corpus, queries, qrels))
    assert [r.layer for r in rows] == [0, 1, 2]
    unique = list(dict.fromkeys(t for p in pairs for t in (p.first, p.second)))
    for row in rows:
        one = dataclasses.replace(tiny_embedder, layer=row.layer)
        prompt = one.classical_prompt("symmetric")  # the embedder's own classical vectors
        assert prompt is not None
        vec = dict(zip(unique, one.embed(unique, prompt), strict=True))
        expected = spearman([float(vec[p.first] @ vec[p.second]) for p in pairs], [p.score for p in pairs])
        assert row.scores["classical sts"] == pytest.approx(expected)
        matrix = np.stack(list(vec.values()))
        centered = matrix - matrix.mean(0)
        centered /= np.linalg.norm(centered, axis=1, keepdims=True)
        cvec = dict(zip(unique, centered, strict=True))
        expected = spearman([float(cvec[p.first] @ cvec[p.second]) for p in pairs], [p.score for p in pairs])
        assert row.scores["classical sts centered"] == pytest.approx(expected)
        assert 0 <= row.scores["echo nDCG@10 centered"] <= 100
    cli = CliRunner().invoke(eval_app, ["layers", "--limit", "6", "--corpus", str(corpus), "--queries",
                                        str(queries), "--qrels", str(qrels), "--model", str(tiny_model_dir),
                                        "--device", "cpu", "--dtype", "float32"])
    assert cli.exit_code == 0, cli.output
    assert cli.stdout.startswith("| layer | echo sts |") and "echo nDCG@10 centered" in cli.stdout


def test_layer_sweep_mean_row_and_instruction_wordings(tiny_embedder: Embedder, tiny_model_dir: Path,
                                                       tmp_path: Path) -> None:
    """The mean row pools the swept layers' normalised vectors; each instruction gets its own echo columns."""
    from search.evaluation.metrics import spearman
    from search.evaluation.sweep import run_layer_sweep

    pairs = load_sts("dev")[:10]
    rows = run_layer_sweep(tiny_embedder, pairs, layers=[1, 2], mean_row=True, classical=False)
    assert [r.layer for r in rows] == [1, 2, "mean 1-2"] and list(rows[2].scores) == ["echo sts", "echo sts centered"]
    unique = list(dict.fromkeys(t for p in pairs for t in (p.first, p.second)))
    per_layer = tiny_embedder.embed_layers(unique, tiny_embedder.preset.symmetric, [1, 2])
    mean = per_layer.mean(0)
    vec = dict(zip(unique, mean / np.linalg.norm(mean, axis=1, keepdims=True), strict=True))
    expected = spearman([float(vec[p.first] @ vec[p.second]) for p in pairs], [p.score for p in pairs])
    assert rows[2].scores["echo sts"] == pytest.approx(expected)

    corpus, queries, qrels = write_tiny_beir(tmp_path)
    cli = CliRunner().invoke(eval_app, [
        "layers", "--no-sts", "--corpus", str(corpus), "--queries", str(queries), "--qrels", str(qrels),
        "--layers", "1-2", "--mean-row", "--no-classical", "--instruction", "Find rivers", "--instruction",
        "Retrieve semantically similar text", "--json", "--model", str(tiny_model_dir), "--device", "cpu",
        "--dtype", "float32"])
    assert cli.exit_code == 0, cli.output
    data = json.loads(cli.stdout)
    assert data["instructions"] == ["Find rivers", "Retrieve semantically similar text"]
    assert [r["layer"] for r in data["rows"]] == [1, 2, "mean 1-2"]
    assert set(data["rows"][0]) == {"layer", "echo nDCG@10", "echo nDCG@10 centered", "echo nDCG@10 [2]",
                                    "echo nDCG@10 centered [2]"}
    bad = CliRunner().invoke(eval_app, ["layers", "--layers", "1-9", "--model", str(tiny_model_dir), "--device",
                                        "cpu"])
    assert bad.exit_code == 2 and "must be in 0..2" in bad.output
