"""`search eval`: compare echo with classical embeddings (and the paper's other baselines) on toy pairs, STS-B,
or the user's own collection, as a table, JSON, or a bar chart."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from embedder.settings import EmbedderSettings
from search.cli.errors import user_errors
from search.cli.options import CollectionName, DataDir, Model, QdrantKey, QdrantUrl, setting_help, settings_with_flags
from search.errors import InvalidInputError
from search.evaluation.methods import METHODS, RETRIEVAL_EXTRA, WORDINGS

eval_app = typer.Typer(
    help="Evaluate echo against classical embeddings: toy S1/S2 pairs, STS-B, or retrieval on your collection.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

err = Console(stderr=True)


class Split(str, Enum):
    dev = "dev"
    train = "train"


Device = Annotated[str | None, typer.Option(
    "--device", show_default=False, help=setting_help("cpu, cuda, mps.", EmbedderSettings, "device"))]
Dtype = Annotated[str | None, typer.Option(
    "--dtype", show_default=False, help=setting_help("bfloat16, float32, ...", EmbedderSettings, "dtype"))]
Methods = Annotated[str | None, typer.Option(
    "--methods", help="Comma-separated methods [default: all]: " + ", ".join(m.name for m in METHODS) + ".")]
Prompts = Annotated[bool, typer.Option(
    "--prompts", help=f"Prompt sensitivity: run {len(WORDINGS['echo'])} wordings of each template, report mean ± std.")]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
MarkdownOut = Annotated[bool, typer.Option("--markdown", help="Print a markdown table (for docs) instead.")]
PlotOut = Annotated[Path | None, typer.Option("--plot", help="Also write a grouped bar chart to this PNG file.",
                                              dir_okay=False)]


def _embedder(settings: EmbedderSettings, device: str | None, dtype: str | None):  # noqa: ANN202 - lazy torch
    """The model the settings (with `--model` applied) and the options `--device`, `--dtype` name."""
    from embedder import Embedder, tune_process

    settings = settings.override(device=device, dtype=dtype)
    tune_process(settings.device)
    with err.status("loading the model..."):
        return Embedder.from_pretrained(**settings.load_options())


def _emit(report, json_out: bool, markdown_out: bool, plot_path: Path | None) -> None:  # noqa: ANN001 - Report
    from search.evaluation.report import legend, markdown, plot, table

    if plot_path:
        plot(report, plot_path)
    if json_out:
        typer.echo(report.to_json())
        return
    if markdown_out:
        typer.echo(markdown(report))
        return
    console = Console()
    console.print(table(report))
    for line in legend(report):
        console.print(f"  [dim]{line}[/dim]", highlight=False)
    for note in report.notes:
        console.print(f"[yellow]note:[/yellow] {note}", highlight=False)
    if plot_path:
        console.print(f"chart written to {plot_path}")


def _progress(message: str) -> None:
    err.print(f"[dim]evaluating {message}...[/dim]", highlight=False)


@eval_app.command()
def toy(
    model: Model = None,
    methods: Methods = None,
    prompts: Prompts = False,
    json_out: JsonOut = False,
    markdown_out: MarkdownOut = False,
    plot_path: PlotOut = None,
    device: Device = None,
    dtype: Dtype = None,
) -> None:
    """Shipped S1/S2 triples: how often sim(query, positive) > sim(query, negative), with the deciding words
    early or late in the sentence (echo should win on the late ones)."""
    from search.evaluation.methods import pick_methods
    from search.evaluation.tasks import run_toy

    with user_errors():
        picked = pick_methods(methods)
        emb = _embedder(settings_with_flags(model=model).embedder, device, dtype)
        report = run_toy(emb, picked, wordings=3 if prompts else 1, progress=_progress)
    _emit(report, json_out, markdown_out, plot_path)


@eval_app.command()
def sts(
    split: Annotated[Split, typer.Option("--split", help="STS-B split (the test split is not offered).")] = Split.dev,
    limit: Annotated[int | None, typer.Option("--limit", min=2, help="Only the first N pairs.")] = None,
    model: Model = None,
    methods: Methods = None,
    prompts: Prompts = False,
    json_out: JsonOut = False,
    markdown_out: MarkdownOut = False,
    plot_path: PlotOut = None,
    device: Device = None,
    dtype: Dtype = None,
) -> None:
    """STS Benchmark: Spearman x 100 between cosine similarity and gold scores (about 1-2 min per method on
    the full dev split on 2 CPU cores; use --limit for a quick look)."""
    from search.evaluation.methods import pick_methods
    from search.evaluation.tasks import run_sts

    with user_errors():
        picked = pick_methods(methods)
        emb = _embedder(settings_with_flags(model=model).embedder, device, dtype)
        report = run_sts(emb, picked, split=split.value, limit=limit, wordings=3 if prompts else 1,  # type: ignore[arg-type]
                         progress=_progress)
    _emit(report, json_out, markdown_out, plot_path)


@eval_app.command()
def retrieval(
    queries: Annotated[Path, typer.Option("--queries", help="BEIR queries.jsonl: {\"_id\", \"text\"} per line.")],
    qrels: Annotated[Path, typer.Option("--qrels", help="BEIR qrels.tsv: header, then query-id, corpus-id, score; "
                                        "corpus-id is a document's path (or its trailing part, e.g. file name).")],
    reembed: Annotated[str | None, typer.Option(
        "--reembed", help="Also re-embed the collection's chunks in memory with these methods (comma-separated, "
        "or 'all'): " + ", ".join(m.name for m in METHODS + RETRIEVAL_EXTRA) + ". Costs one pass over the "
        "collection per method.")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100, help="Cutoff of the metrics.")] = 10,
    instruction: Annotated[str | None, typer.Option("--instruction", help="Retrieval instruction of the query "
                                                    "template [default: the built-in one].")] = None,
    collection: CollectionName = None,
    qdrant_url: QdrantUrl = None,
    qdrant_api_key: QdrantKey = None,
    data_dir: DataDir = None,
    model: Model = None,
    json_out: JsonOut = False,
    markdown_out: MarkdownOut = False,
    plot_path: PlotOut = None,
    device: Device = None,
    dtype: Dtype = None,
) -> None:
    """Retrieval on an ingested collection: nDCG@k, Recall@k and MRR@k of its echo and classical vectors, for
    your own queries and relevance judgements (documents are ranked by their best chunk)."""
    from search.evaluation.methods import pick_methods
    from search.evaluation.tasks import run_retrieval
    from search.query.backend import open_backend
    from search.query.searcher import Searcher

    with user_errors():
        extra = pick_methods(None if reembed == "all" else reembed, retrieval=True) if reembed else []
        settings = settings_with_flags(collection, qdrant_url, qdrant_api_key, data_dir, model)
        # the store first (the service that holds it, if one does); the model only when it runs here
        with open_backend(settings, load_model=False) as searcher:
            emb = _embedder(settings.embedder, device, dtype) if isinstance(searcher, Searcher) or extra else None
            if isinstance(searcher, Searcher) and emb is not None:
                searcher = Searcher.with_store(searcher.store, embedder=emb)
            report = run_retrieval(searcher, queries, qrels, emb=emb, reembed=extra, k=k, instruction=instruction,
                                   progress=_progress)
    _emit(report, json_out, markdown_out, plot_path)


@eval_app.command()
def layers(
    split: Annotated[Split, typer.Option("--split", help="STS-B split (the test split is not offered).")] = Split.dev,
    limit: Annotated[int | None, typer.Option("--limit", min=2, help="Only the first N STS pairs.")] = None,
    sts: Annotated[bool, typer.Option("--sts/--no-sts", help="Score STS-B (--no-sts: only the --corpus "
                                      "retrieval set).")] = True,
    corpus: Annotated[Path | None, typer.Option("--corpus", help="Also retrieval: a BEIR corpus.jsonl held in "
                                                "memory ({\"_id\", \"title\", \"text\"} per line); needs --queries "
                                                "and --qrels.")] = None,
    queries: Annotated[Path | None, typer.Option("--queries", help="BEIR queries.jsonl of --corpus.")] = None,
    qrels: Annotated[Path | None, typer.Option("--qrels", help="BEIR qrels.tsv of --corpus (corpus ids).")] = None,
    max_text_tokens: Annotated[int, typer.Option("--max-text-tokens", min=1, help="Cut every text to this many "
                                                 "tokens.")] = 512,
    model: Model = None,
    json_out: JsonOut = False,
    device: Device = None,
    dtype: Dtype = None,
) -> None:
    """Echo and classical at every hidden layer, plain and centered (one forward per text gives all layers):
    STS-B Spearman, and nDCG@10 on an in-memory BEIR corpus with --corpus/--queries/--qrels."""
    import dataclasses
    import json

    from search.evaluation.data import load_sts
    from search.evaluation.sweep import markdown, run_layer_sweep

    with user_errors():
        given = [p for p in (corpus, queries, qrels) if p is not None]
        if given and len(given) != 3:
            raise InvalidInputError("retrieval needs all of --corpus, --queries and --qrels")
        emb = dataclasses.replace(_embedder(settings_with_flags(model=model).embedder, device, dtype),
                                  max_text_tokens=max_text_tokens)
        if not sts and not corpus:
            raise InvalidInputError("--no-sts needs a retrieval set (--corpus, --queries, --qrels)")
        pairs = (load_sts(split.value)[:limit] if limit else load_sts(split.value)) if sts else []  # type: ignore[arg-type]
        _progress(f"{len(pairs)} STS-B {split.value} pairs" + (f" and {corpus}" if corpus else ""))
        rows = run_layer_sweep(emb, pairs, retrieval=(corpus, queries, qrels) if corpus and queries and qrels else None)
    if json_out:
        typer.echo(json.dumps({"model": emb.model_name, "dtype": str(emb.dtype), "sts_split": split.value,
                               "sts_pairs": len(pairs), "corpus": str(corpus) if corpus else None,
                               "rows": [{"layer": r.layer, **r.scores} for r in rows]}))
        return
    typer.echo(markdown(rows))
