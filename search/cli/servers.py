"""`search serve` (the HTTP service) and `search mcp` (the MCP server): the commands that keep running."""

from __future__ import annotations

import os
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from search.cli.errors import err, user_errors
from search.cli.options import (
    CollectionName,
    DataDir,
    Model,
    QdrantKey,
    QdrantUrl,
    ServiceUrl,
    setting_help,
    settings_with_flags,
    with_service_flags,
)
from search.settings import ServiceSettings


def _service_option(field: str, text: str, *flags: str) -> Any:
    """A `search serve` option for a `ServiceSettings` field: None when not given, help naming its variable."""
    return typer.Option(*flags, show_default=False, help=setting_help(text, ServiceSettings, field))


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

    settings = with_service_flags(
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


def mcp_server(
    transport: Annotated[McpTransport, typer.Option("--transport", help=(
        "stdio (what an assistant launches) or http (streamable HTTP at http://HOST:PORT/mcp).")
    )] = McpTransport.stdio,
    host: Annotated[str, typer.Option("--host", help="With --transport http: the interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="With --transport http: the port.")] = 8765,
    allow_ingest: Annotated[bool, typer.Option("--allow-ingest", help=(
        "Offer the ingest tool: the assistant may then add files to the collection (and update or remove them)."
    ))] = False,
    service: ServiceUrl = None,
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
    settings = with_service_flags(settings_with_flags(collection, qdrant_url, qdrant_api_key, data_dir, model),
                                   url=service)
    if transport is McpTransport.http and host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[yellow]warning:[/yellow] serving MCP on {host} with no authentication: anyone who can reach it "
                  "can read your documents")
    from search.mcp.server import serve as run_mcp

    run_mcp(settings, transport.value, host=host, port=port, allow_ingest=allow_ingest)


