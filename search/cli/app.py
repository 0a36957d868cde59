"""The `search` command: `search "question"` ranks chunks; `search serve|info|eval` are subcommands."""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import asdict
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from search.cli.errors import say_internal_error, user_errors
from search.cli.options import CollectionName, DataDir, Model, QdrantKey, QdrantUrl, setting_help, settings_with_flags
from search.errors import ExitCode
from search.query.request import SearchQuery
from search.settings import ServiceSettings, Settings, SettingsError
from search.validation import K_MAX, K_MIN, InvalidRequestError

DEFAULT_COMMAND = "query"

# The exit statuses of `search.errors`, shared with `ingest` (which also uses 1: some files failed).
EXIT_STATUS_HELP = (
    f"Exit status: {ExitCode.OK} ok; {ExitCode.USAGE} usage error (bad arguments); {ExitCode.REFUSED} the store or "
    "model refused or is unavailable (store locked by another process, server unreachable, collection missing, "
    "fingerprint mismatch, model not found, service refused, store damaged); "
    f"{ExitCode.INTERNAL} unexpected internal error; {ExitCode.NO_SPACE} the disk holding the store is full; "
    f"{ExitCode.INTERRUPTED} interrupted."
)


class SearchMode(str, Enum):
    """`search.query.results.MODES` as the command's choices (a test keeps the two equal)."""

    both = "both"
    echo = "echo"
    classical = "classical"
    bm25 = "bm25"
    hybrid = "hybrid"
    rerank = "rerank"
    all = "all"


LAZY_COMMANDS = {"eval": ("search.evaluation.cli", "eval_app")}
"""Subcommands imported only when run (or listed by --help): `search eval` imports torch, and a command that is
refused, such as a search on a locked store, should answer before that."""


class QueryFirstGroup(TyperGroup):
    """Runs the `query` command when the first argument is not a subcommand, so `search "how do I x"` works."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in LAZY_COMMANDS \
                and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return [*super().list_commands(ctx), *(name for name in LAZY_COMMANDS if name not in self.commands)]

    def get_command(self, ctx: typer.Context, name: str) -> Any:  # type: ignore[override]
        if name in LAZY_COMMANDS and name not in self.commands:
            module, attribute = LAZY_COMMANDS[name]
            command = typer.main.get_command(getattr(importlib.import_module(module), attribute))
            command.name = name
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        """Every command: Ctrl-C exits 130, an unexpected error exits 4 with a one-line message, no traceback."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # exit statuses and usage errors, as they are
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except Exception as exc:
            say_internal_error(exc)
            raise typer.Exit(ExitCode.INTERNAL) from None


app = typer.Typer(
    cls=QueryFirstGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "Search your documents with echo and classical embeddings, side by side.\n\n"
        'search "how do I rotate the logs?" -k 5        (same as: search query "...")\n\n'
        "search serve --port 8000                        HTTP query service\n\n"
        "search mcp                                      MCP server for assistants (stdio)\n\n"
        "search info                                     what the collection holds"
    ),
    epilog=EXIT_STATUS_HELP,
)

err = Console(stderr=True)

JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command(DEFAULT_COMMAND)
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
    service: Annotated[str | None, typer.Option("--service", show_default=False, help=setting_help(
        "URL of a running `search serve` to ask instead (without it, one that holds the embedded store answers).",
        ServiceSettings, "url"))] = None,
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
    settings = _with_service_flags(settings_with_flags(collection, qdrant_url, qdrant_api_key, data_dir, model),
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
            collection_info, sources, checked = service.info(), service.sources(), None
    else:
        with user_errors(), open_collection(**where.collection_options()) as store:
            collection_info = store.info()
            sources = store.sources()
            checked = store.check() if check else None
    if json_out:
        extra = {} if checked is None else {"checked_points": checked}
        typer.echo(json.dumps({**asdict(collection_info), "files": len(sources), "sources": sources, **extra},
                              indent=2))
    else:
        Console().print(info_table(collection_info, len(sources)))
        if checked is not None:
            Console().print(f"check: all {checked} points read back (vectors and payloads): no damage found")


app.command("info")(info)
app.command("collection", hidden=True)(info)


def _service_option(field: str, text: str, *flags: str) -> Any:
    """A `search serve` option for a `ServiceSettings` field: None when not given, help naming its variable."""
    return typer.Option(*flags, show_default=False, help=setting_help(text, ServiceSettings, field))


def _with_service_flags(settings: Settings, **given: Any) -> Settings:
    """`settings` with the service options that were given; an unusable value is a usage error naming it."""
    try:
        return settings.override(service=given)
    except SettingsError as exc:
        raise typer.BadParameter(str(exc)) from None


@app.command()
def serve(
    host: Annotated[str | None, _service_option("host", "Interface to bind.", "--host")] = None,
    port: Annotated[int | None, _service_option("port", "Port.", "--port")] = None,
    max_batch: Annotated[int | None, _service_option("max_batch", "Queries per model forward.", "--max-batch")] = None,
    batch_wait_ms: Annotated[float | None, _service_option(
        "batch_wait_ms", "Under load, how long to gather concurrent queries (a lone one never waits).",
        "--batch-wait-ms")] = None,
    cache_size: Annotated[int | None, _service_option("cache_size", "Answers kept in the LRU cache.",
                                                      "--cache-size")] = None,
    max_query_tokens: Annotated[int | None, _service_option(
        "max_query_tokens", "Tokens one query's echo prompt (query twice and instruction) may take; more gets 422.",
        "--max-query-tokens")] = None,
    batch_tokens: Annotated[int | None, _service_option(
        "batch_tokens", "Prompt tokens one batch of queries may take.", "--batch-tokens")] = None,
    max_body_bytes: Annotated[int | None, _service_option(
        "max_body_bytes", "Largest request body; more gets 413 before it is read.", "--max-body-bytes")] = None,
    max_queue: Annotated[int | None, _service_option(
        "max_queue", "Queries that may wait for the model; more get 503 with Retry-After.", "--max-queue")] = None,
    threads: Annotated[int | None, _service_option(
        "threads", "CPU threads for the model (1 is often faster on a busy machine).", "--threads")] = None,
    collection: CollectionName = None,
    qdrant_url: QdrantUrl = None,
    qdrant_api_key: QdrantKey = None,
    data_dir: DataDir = None,
    model: Model = None,
    watch: Annotated[list[Path] | None, typer.Option(
        "--watch", show_default=False, help="A file or folder to keep in sync (as `ingest --watch` does) inside the "
        "service; repeat for more.")] = None,
    with_parent: Annotated[bool, typer.Option(
        "--with-parent", hidden=True, help="Stop when the process that started this one ends (the UI's service).")
    ] = False,
) -> None:
    """Run the HTTP query service (POST /search, GET /health, GET /collection, docs at /docs; OpenAI-compatible
    POST /v1/embeddings, Prometheus GET /metrics).

    Set SEARCH_API_KEY to require that key on every request (header X-API-Key or Authorization: Bearer). On the
    embedded store, `ingest` on the same data folder hands its work to this service (POST /ingest).
    """
    from search.query.backend import open_searcher

    settings = _with_service_flags(
        settings_with_flags(collection, qdrant_url, qdrant_api_key, data_dir, model),
        host=host, port=port, max_batch=max_batch, batch_wait_ms=batch_wait_ms, cache_size=cache_size,
        max_query_tokens=max_query_tokens, batch_tokens=batch_tokens, max_body_bytes=max_body_bytes, threads=threads,
        max_queue=max_queue,
    )
    service = settings.service
    for path in watch or []:
        if not path.exists():
            raise typer.BadParameter(f"no such file or folder: {path}", param_hint="--watch")

    def prepare() -> None:  # once the store is open
        from embedder import tune_process

        tune_process(settings.embedder.device, threads=service.threads)

    with user_errors():
        searcher = open_searcher(settings, prepare=prepare)
    from search.service.app import serve as run_service  # FastAPI and torch: after the store is open
    if service.host not in ("127.0.0.1", "localhost", "::1") and not service.api_key:
        err.print(f"[yellow]warning:[/yellow] serving on {service.host} without SEARCH_API_KEY: anyone who can reach "
                  "it can query your documents")
    if with_parent:
        _stop_with_parent()
    run_service(searcher, service, watch=[os.path.abspath(p) for p in watch or []])


def _stop_with_parent() -> None:
    """Stop this service (SIGTERM: it withdraws its announcement) once the process that started it is gone."""
    import signal
    import threading
    import time

    parent = os.getppid()

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()


class McpTransport(str, Enum):
    stdio = "stdio"
    http = "http"


@app.command("mcp")
def mcp_server(
    transport: Annotated[McpTransport, typer.Option("--transport", help=(
        "stdio (what an assistant launches) or http (streamable HTTP at http://HOST:PORT/mcp).")
    )] = McpTransport.stdio,
    host: Annotated[str, typer.Option("--host", help="With --transport http: the interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="With --transport http: the port.")] = 8765,
    allow_ingest: Annotated[bool, typer.Option("--allow-ingest", help=(
        "Offer the ingest tool: the assistant may then add files to the collection (and update or remove them)."
    ))] = False,
    service: Annotated[str | None, typer.Option("--service", show_default=False, help=setting_help(
        "URL of a running `search serve` to ask instead (without it, one that holds the embedded store answers).",
        ServiceSettings, "url"))] = None,
    collection: CollectionName = None,
    qdrant_url: QdrantUrl = None,
    qdrant_api_key: QdrantKey = None,
    data_dir: DataDir = None,
    model: Model = None,
) -> None:
    """Run an MCP server over the collection for assistants (Claude, VS Code, ...): tools to search it, list its
    sources, read a document or a hit's neighbours, and with --allow-ingest to ingest paths. docs/mcp.md.

    Nothing is opened or loaded until a tool is called; the model loads at the first question. When a `search serve`
    holds the embedded store, that service answers. Only the protocol goes to stdout; logs go to stderr."""
    settings = _with_service_flags(settings_with_flags(collection, qdrant_url, qdrant_api_key, data_dir, model),
                                   url=service)
    if transport is McpTransport.http and host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/yellow] serving MCP on {host} with no authentication: anyone who can reach it "
                  "can read your documents")
    from search.mcp.server import serve as run_mcp

    run_mcp(settings, transport.value, host=host, port=port, allow_ingest=allow_ingest)


def _embedded_store(collection: str | None, data_dir: Path | None) -> Settings:
    """The settings for a command that works on the embedded store's files only (backup, restore)."""
    settings = settings_with_flags(collection, None, None, data_dir)
    if settings.store.qdrant_url:
        raise typer.BadParameter("backup and restore work on the embedded store; a Qdrant server (QDRANT_URL) makes "
                                 "its own snapshots: see Qdrant's snapshot API")
    return settings


@app.command()
def backup(
    dest: Annotated[Path, typer.Argument(help="A new (or empty) folder for the backup.", show_default=False)],
    collection: CollectionName = None,
    data_dir: DataDir = None,
) -> None:
    """Copy the collection of the embedded store into the folder DEST (holding the store: no writer runs meanwhile).

    Restore it with `search restore DEST`. The documents stay the source of truth: `ingest` rebuilds any collection.
    """
    from search.store import embedded_folder
    from search.store.edge.backup import backup as take_backup
    from search.store.edge.collection import EdgeCollection

    where = _embedded_store(collection, data_dir).store
    with user_errors():
        store = EdgeCollection.open_folder(embedded_folder(None, where.data_dir()), where.collection,
                                           min_free_mb=where.min_free_mb)
        try:
            about = take_backup(store, dest)
        finally:
            store.close()
    err.print(f"backed up collection {about['collection']!r} ({about['points']} points) to {dest}", highlight=False)


@app.command()
def restore(
    source: Annotated[Path, typer.Argument(help="A folder written by `search backup`.", show_default=False)],
    collection: CollectionName = None,
    data_dir: DataDir = None,
    replace: Annotated[bool, typer.Option("--replace", help="Replace an existing (or damaged) collection of that "
                                                            "name; it is kept beside it, renamed.")] = False,
) -> None:
    """Restore a backup made by `search backup` into the embedded store (as its collection, or --collection).

    The copy is checked (it opens and holds the points the backup says) before anything is replaced.
    """
    from search.store import embedded_folder
    from search.store.edge.backup import restore as restore_backup

    settings = _embedded_store(collection, data_dir)
    with user_errors():
        done = restore_backup(embedded_folder(None, settings.store.data_dir()), source,
                              name=collection or None, replace=replace)
    err.print(f"restored collection {done['collection']!r} ({done['restored_points']} points) from {source}",
              highlight=False)
    if done["replaced"]:
        err.print(f"the collection it replaced is kept at {done['replaced']}", highlight=False)


@app.command()
def migrate(
    data_dir: DataDir = None,
    path: Annotated[Path | None, typer.Option(
        "--path", help="The embedded store folder itself (default: qdrant/ under the data folder).")] = None,
) -> None:
    """Move an embedded store written by an earlier echo-search (qdrant-client's local mode) to Qdrant's engine.

    Every collection is copied with its vectors, payloads and fingerprint, and indexed; the old folder is kept
    beside it as `<folder>.local-mode-backup` until you delete it. Nothing is embedded again.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from search.store import embedded_folder
    from search.store.edge.migrate import BACKUP_SUFFIX, migrate_folder

    folder = embedded_folder(path, settings_with_flags(data_dir=data_dir).store.data_dir())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with user_errors(), Progress(*columns, console=err, transient=True) as bar:
        tasks: dict[str, Any] = {}

        def progress(name: str, done: int, total: int) -> None:
            if name not in tasks:
                tasks[name] = bar.add_task(f"collection {name}", total=total)
            bar.update(tasks[name], completed=done)

        copied = migrate_folder(folder, progress)
    for name, points in copied.items():
        err.print(f"migrated collection {name!r}: {points} points")
    err.print(f"{folder} now uses Qdrant's engine; the old folder is {folder}{BACKUP_SUFFIX}")


def main() -> None:
    """Console-script entry point."""
    app()
