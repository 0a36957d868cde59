"""`search "question"` (the default command) and `search info`: answered by the store here, or by the service
that holds it."""

from __future__ import annotations

import json
from enum import Enum
from typing import Annotated

import typer
from rich.console import Console

from search.cli.errors import err, user_errors
from search.cli.options import (
    CollectionName,
    DataDir,
    JsonOut,
    Model,
    QdrantKey,
    QdrantUrl,
    ServiceUrl,
    settings_with_flags,
    with_service_flags,
)
from search.query.request import SearchQuery
from search.validation import K_MAX, K_MIN, InvalidRequestError


class SearchMode(str, Enum):
    """`search.query.results.MODES` as the command's choices (a test keeps the two equal)."""

    both = "both"
    echo = "echo"
    classical = "classical"
    bm25 = "bm25"
    hybrid = "hybrid"
    rerank = "rerank"
    all = "all"


def query(
    question: Annotated[list[str], typer.Argument(help="The question (quote it, or give it as several words).")],
    k: Annotated[int, typer.Option("-k", min=K_MIN, max=K_MAX, help="Hits per ranking.")] = 5,
    mode: Annotated[SearchMode, typer.Option("--mode", "-m", help=(
        "What to rank with: echo and classical side by side (both), one of them, bm25 (the question's words; loads "
        "no model), hybrid (echo and BM25 fused in the engine, ECHO_SEARCH_FUSION), rerank (hybrid's top 10 "
        "rescored by the model's likelihood of the question, ECHO_SEARCH_RERANK_*; score: mean log-probability), "
        "or all (echo, classical, bm25 and hybrid side by side)."
    ))] = SearchMode.both,
    json_out: JsonOut = False,
    source: Annotated[list[str] | None, typer.Option("--source", "-s", help="Only chunks of this source path "
                                                     "(repeat for several).")] = None,
    instruction: Annotated[str | None, typer.Option("--instruction", help="Retrieval instruction of the query "
                                                    "template (default: the built-in one).")] = None,
    service: ServiceUrl = None,
    collection: CollectionName = None,
    qdrant_url: QdrantUrl = None,
    qdrant_api_key: QdrantKey = None,
    data_dir: DataDir = None,
    model: Model = None,
) -> None:
    """Rank chunks for a question with echo and classical embeddings, BM25 or hybrid (the default command).

    When a `search serve` holds the embedded store, that service answers (SEARCH_API_KEY is sent)."""
    from search.cli.render import result_json, result_table

    text = " ".join(question).strip()
    if not text:
        raise typer.BadParameter("the question is empty", param_hint="QUESTION")
    try:
        ask = SearchQuery(text, k, mode.value, source or None, instruction)
    except InvalidRequestError as exc:
        raise typer.BadParameter(str(exc)) from None
    settings = with_service_flags(settings_with_flags(collection, qdrant_url, qdrant_api_key, data_dir, model),
                                   url=service)
    with user_errors():
        from search.query.backend import open_backend
        from search.query.remote import HttpSearcher

        with open_backend(settings, None, lambda: _tune_process(settings.embedder.device),
                          load_model=mode is not SearchMode.bm25) as searcher:
            if isinstance(searcher, HttpSearcher) and not settings.service.url:
                _answered_by(searcher.url)
            result = searcher.search(ask)
    if json_out:
        typer.echo(result_json(text, mode.value, result))
        return
    console = Console()
    if not any((result.echo, result.classical, result.bm25, result.hybrid)):
        console.print("no hits: the collection is empty (run `ingest PATH`) or the filter matched nothing")
        return
    console.print(result_table(result, mode.value))


def _answered_by(url: str) -> None:
    """Say on stderr that the announced service at `url` answers (stdout stays what the store would have given)."""
    err.print(f"answered by the search service at {url}", highlight=False, soft_wrap=True)


def _tune_process(device: str | None) -> None:
    """This process runs the model on `device` (the settings'): OpenBLAS off its cores, bounded oneDNN caches (after
    the store is open)."""
    from embedder import tune_process

    tune_process(device)


def info(
    json_out: JsonOut = False,
    check: Annotated[bool, typer.Option("--check", help="Also read every point once (vectors and payloads) and "
                                                        "report damage (exit 3).")] = False,
    collection: CollectionName = None,
    qdrant_url: QdrantUrl = None,
    qdrant_api_key: QdrantKey = None,
    data_dir: DataDir = None,
) -> None:
    """What the collection holds: chunks, files and the embedder that built it (no model is loaded).

    When a `search serve` holds the embedded store, that service answers (--check then needs it stopped)."""
    from search.cli.render import info_table
    from search.query.backend import holder_url
    from search.store import StoreLockedError, open_collection

    settings = settings_with_flags(collection, qdrant_url, qdrant_api_key, data_dir)
    where = settings.store
    with user_errors():
        url = holder_url(settings)
        if url and check:
            raise StoreLockedError(f"--check reads the store's files itself, and the search service at {url} "
                                   "holds them: stop the service, then run it")
    if url:
        from search.query.backend import open_backend

        _answered_by(url)
        with user_errors(), open_backend(settings.override(service={"url": url})) as service:
            collection_info, checked = service.info(), None
    else:
        with user_errors(), open_collection(**where.collection_options()) as store:
            collection_info = store.info()
            checked = store.check() if check else None
    if json_out:
        extra = {} if checked is None else {"checked_points": checked}
        typer.echo(json.dumps({**collection_info.as_dict(), **extra}, indent=2))
    else:
        Console().print(info_table(collection_info))
        if checked is not None:
            Console().print(f"check: all {checked} points read back (vectors and payloads): no damage found")




