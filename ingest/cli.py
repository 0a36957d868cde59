"""The `ingest` command: sync files and folders into the collection (embedded store or a Qdrant server)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ingest.chunking import DEFAULT_CHUNK_TOKENS
from ingest.discover import Shard
from ingest.pipeline import DEFAULT_BATCH_SIZE, ingest_paths
from ingest.progress import progress_display
from ingest.report import IngestReport
from search.cli_options import Collection, DataDir, Model, QdrantKey, QdrantUrl
from search.store import Store, StoreError

USAGE_ERROR = 2
app = typer.Typer(add_completion=False, rich_markup_mode=None)


class Fatal(Exception):
    """A problem that stops the run before any file is handled (usage, store, model); exit code 2."""


@app.command(
    help=(
        "Parse, chunk and embed PATHs (files and folders) into the search collection, incrementally: unchanged "
        "files are skipped, changed ones replaced, files gone from the folders removed. Without --qdrant-url the "
        "embedded store under the data folder is used (one process at a time). Formats: .txt .md .rst .html .pdf "
        ".docx .pptx .csv .tsv .json .eml. Exit code 0 when every file was handled, 1 when some failed (they "
        "are listed), 2 for usage, store or model errors."
    )
)
def run(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest.", show_default=False)],
    collection: Collection = None,
    qdrant_url: QdrantUrl = None,
    qdrant_api_key: QdrantKey = None,
    data_dir: DataDir = None,
    model: Model = None,
    force: Annotated[bool, typer.Option("--force", help="Re-embed every file, changed or not.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep running and sync changes as they happen.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable report on stdout.")] = False,
    shard: Annotated[str | None, typer.Option(help="Handle only share i of N workers, e.g. 0/4 "
                                                   "(stable hash of the path).")] = None,
    chunk_tokens: Annotated[int, typer.Option(min=8, help="Token budget of a chunk (the model's tokens; echo "
                                                          "feeds each chunk twice).")] = DEFAULT_CHUNK_TOKENS,
    batch_size: Annotated[int, typer.Option(min=1, help="Chunks per embedding and upsert batch.")
                          ] = DEFAULT_BATCH_SIZE,
) -> None:
    try:
        share = Shard.parse(shard) if shard else None
        for path in paths:
            if not path.exists() and not path.is_symlink():
                raise Fatal(f"no such file or folder: {path}")
        store, embedder = _open(collection, qdrant_url, qdrant_api_key, data_dir, model, chunk_tokens)
    except (Fatal, ValueError, StoreError) as exc:
        _err(f"ingest: {exc}")
        raise typer.Exit(USAGE_ERROR) from None
    try:
        def sync(force_now: bool) -> IngestReport:
            with progress_display(enabled=not as_json and sys.stderr.isatty()) as progress:
                return ingest_paths(paths, store, embedder, force=force_now, progress=progress,
                                    chunk_tokens=chunk_tokens, batch_size=batch_size, shard=share)

        report = _sync_and_print(sync, force, as_json)
        if watch:
            from ingest.watch import watch_paths

            _err(f"watching {', '.join(map(str, paths))} for changes (Ctrl-C to stop)")
            watch_paths(paths, lambda: _sync_and_print(sync, False, as_json))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    except Exception as exc:  # StoreError and friends: their message says what to do
        _err(f"ingest: {exc}")
        raise typer.Exit(USAGE_ERROR) from None
    finally:
        store.close()
    raise typer.Exit(0 if report.ok else 1)


def _open(collection, qdrant_url, qdrant_api_key, data_dir, model, chunk_tokens):  # noqa: ANN001, ANN202
    from transformers.utils import logging as hf_logging

    from embedder import Embedder

    hf_logging.set_verbosity_error()  # no weight-loading reports or bars in the middle of ingest's output
    hf_logging.disable_progress_bar()

    try:
        store = Store.open(url=qdrant_url, api_key=qdrant_api_key, collection=collection, data_dir=data_dir)
    except StoreError as exc:
        raise Fatal(str(exc)) from None
    where = "Qdrant server" if qdrant_url else "embedded store (data folder)"
    _err(f"{where}: {store.location}  collection: {store.collection}")
    try:
        embedder = Embedder.from_pretrained(model)
        if chunk_tokens > embedder.max_text_tokens:
            raise Fatal(f"--chunk-tokens {chunk_tokens} exceeds the model budget of {embedder.max_text_tokens}")
        if store.exists():
            store.check_fingerprint(embedder.fingerprint)
    except (Fatal, StoreError):
        store.close()
        raise
    except Exception as exc:
        store.close()
        raise Fatal(f"cannot load model {model or '(default)'}: {exc}") from None
    _err(f"model: {embedder.fingerprint}")
    return store, embedder


def _sync_and_print(sync, force: bool, as_json: bool) -> IngestReport:  # noqa: ANN001
    report = sync(force)
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False), flush=True)
    else:
        print(report.summary(), flush=True)
    return report


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    """Console-script entry point."""
    app()
