"""The `ingest` command: sync files and folders into the collection (embedded store or a Qdrant server)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer

from ingest.budget import DEFAULT_MAX_FILE_CHUNKS, DEFAULT_MAX_FILE_MB, FileBudget
from ingest.chunking import DEFAULT_CHUNK_TOKENS
from ingest.discover import Shard
from ingest.offline import setup_offline
from ingest.pipeline import DEFAULT_BATCH_SIZE, GPU_BATCH_SIZE, ingest_paths
from ingest.progress import progress_display
from ingest.report import IngestReport
from search import store as stores
from search.cli_options import Collection, DataDir, Model, QdrantKey, QdrantUrl, settings_with_flags
from search.settings import Settings
from search.store import StoreError, StoreFullError

if TYPE_CHECKING:
    from embedder import Embedder

OK, FILES_FAILED, USAGE_ERROR, UNAVAILABLE, INTERNAL_ERROR, NO_SPACE, INTERRUPTED = 0, 1, 2, 3, 4, 5, 130
app = typer.Typer(add_completion=False, rich_markup_mode=None)


class Fatal(Exception):
    """A problem that stops the run before any file is handled; `code` is the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


@app.command(
    help=(
        "Parse, chunk and embed PATHs (files and folders) into the search collection, incrementally: unchanged "
        "files are skipped, changed ones replaced, files gone from the folders removed. Without --qdrant-url the "
        "embedded store under the data folder is used (one process at a time). Formats: .txt .md .rst .html .pdf "
        ".docx .pptx .csv .tsv .json .eml. Files are handled smallest first; a file over --max-file-mb or "
        "--max-file-chunks is reported as failed (too large). Ctrl-C finishes the batch in flight, prints the "
        "report so far and exits 130; running again finishes the rest. Exit codes: 0 every file was handled; "
        "1 some files failed (they are listed); 2 usage error (bad arguments or paths); 3 the store or model "
        "refused or is unavailable (locked store, server unreachable, fingerprint mismatch, model not found); "
        "4 unexpected internal error; 5 the disk holding the store is full (nothing half-written: free space and run "
        "again); 130 interrupted."
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
    rebuild: Annotated[bool, typer.Option("--rebuild", help="Delete the collection first, then ingest PATHs into a "
                                          "new one made by this embedder (what a fingerprint mismatch asks for "
                                          "after a model or default change).")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Keep running and sync changes as they happen.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable report on stdout.")] = False,
    shard: Annotated[str | None, typer.Option(help="Handle only share i of N workers, e.g. 0/4 "
                                                   "(stable hash of the path).")] = None,
    chunk_tokens: Annotated[int, typer.Option(min=8, help="Token budget of a chunk (the model's tokens; echo "
                                                          "feeds each chunk twice).")] = DEFAULT_CHUNK_TOKENS,
    batch_size: Annotated[int | None, typer.Option(min=1, help="Chunks per embedding and upsert batch "
                                                        f"[default: {DEFAULT_BATCH_SIZE} on CPU, "
                                                        f"{GPU_BATCH_SIZE} on a GPU]", show_default=False)
                          ] = None,
    max_file_mb: Annotated[float, typer.Option(min=0, help="Skip (as failed, too large) a file bigger than this "
                                                           "many MB; 0 for no limit.")] = DEFAULT_MAX_FILE_MB,
    max_file_chunks: Annotated[int, typer.Option(min=0, help="Skip (as failed, too large) a file of more chunks "
                                                             "than this; 0 for no limit.")
                               ] = DEFAULT_MAX_FILE_CHUNKS,
) -> None:
    try:
        share = _shard(shard)
        if rebuild and share:
            raise Fatal("--rebuild deletes the whole collection: run it once, without --shard, before the workers",
                        USAGE_ERROR)
        for path in paths:
            if not path.exists() and not path.is_symlink():
                raise Fatal(f"no such file or folder: {path}", USAGE_ERROR)
        settings = settings_with_flags(collection, qdrant_url, qdrant_api_key, data_dir, model)
        store, embedder = _open(settings, chunk_tokens, rebuild)
    except typer.BadParameter as exc:  # a setting or flag with a value that cannot be used
        raise _fail(str(exc), USAGE_ERROR) from None
    except Fatal as exc:
        raise _fail(str(exc), exc.code) from None
    except KeyboardInterrupt:
        raise typer.Exit(INTERRUPTED) from None
    except Exception as exc:
        raise _internal(exc) from None
    budget = FileBudget(max_file_mb, max_file_chunks)
    try:
        def sync(force_now: bool) -> IngestReport:
            with progress_display("bar" if sys.stderr.isatty() and not as_json else "lines") as progress, \
                    _stop_on_ctrl_c() as stop:
                return ingest_paths(paths, store, embedder, force=force_now, progress=progress,
                                    chunk_tokens=chunk_tokens, batch_size=batch_size, shard=share, budget=budget,
                                    stop=stop)

        report = _sync_and_print(sync, force, as_json)
        if watch:
            from ingest.watch import watch_paths

            _err(f"watching {', '.join(map(str, paths))} for changes (Ctrl-C to stop)")
            watch_paths(paths, lambda: _sync_and_print(sync, False, as_json))
    except KeyboardInterrupt:
        raise typer.Exit(INTERRUPTED) from None
    except FileNotFoundError as exc:  # a path vanished after the check above
        raise _fail(str(exc), USAGE_ERROR) from None
    except StoreFullError as exc:  # stopped before the disk filled up: what is stored is intact
        raise _fail(str(exc), NO_SPACE) from None
    except StoreError as exc:  # its message says what to do
        raise _fail(str(exc), UNAVAILABLE) from None
    except Exception as exc:
        raise _internal(exc) from None
    finally:
        store.close()
    raise typer.Exit(OK if report.ok else FILES_FAILED)


def _shard(spec: str | None) -> Shard | None:
    """The `--shard i/N` option; a malformed one is a usage error."""
    try:
        return Shard.parse(spec) if spec else None
    except ValueError as exc:
        raise Fatal(str(exc), USAGE_ERROR) from None


@contextmanager
def _stop_on_ctrl_c() -> Iterator[threading.Event]:
    """While syncing, the first Ctrl-C sets the event (the run stops after the batch in flight and reports); a
    second one interrupts at once."""
    stop = threading.Event()

    def on_sigint(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        # os.write, not print: a handler that prints while the main thread prints fails ("reentrant call")
        os.write(2, b"ingest: interrupted: finishing the batch in flight (Ctrl-C again to quit at once)\n")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def window_warning(chunk_tokens: int, embedder: Embedder) -> str | None:
    """A warning when a chunk of `chunk_tokens` tokens does not fit the model's attention window twice (the
    document echo prompt), so the echo vector of such a chunk cannot cover all of it; None when it fits."""
    limit = embedder.echo_text_limit(embedder.preset.document)
    if limit is None or chunk_tokens <= limit:
        return None
    return (f"warning: --chunk-tokens {chunk_tokens} is more than the {limit} tokens a document's echo prompt can "
            f"hold within the model's {embedder.reach}-token attention window; the echo vector of a longer chunk "
            f"covers only part of it (long_texts={embedder.long_texts!r}). Use --chunk-tokens {limit} or less.")


def _open(settings: Settings, chunk_tokens: int, rebuild: bool = False):  # noqa: ANN202
    where = settings.store
    try:  # first, before torch and the model load: a locked, damaged or unreachable store is refused at once
        store = stores.open_collection(**stores.collection_options(where))
    except StoreError as exc:
        raise Fatal(str(exc), NO_SPACE if isinstance(exc, StoreFullError) else UNAVAILABLE) from None
    except ValueError as exc:  # qdrant-client's verdict on a malformed URL
        if not where.qdrant_url:
            raise
        raise Fatal(f"invalid --qdrant-url {where.qdrant_url!r}: {exc}", USAGE_ERROR) from None
    kind = "Qdrant server" if where.qdrant_url else "embedded store (data folder)"
    _err(f"{kind}: {store.location}  collection: {store.name}")
    try:
        from transformers.utils import logging as hf_logging

        from embedder import Embedder, tune_process

        hf_logging.set_verbosity_error()  # no weight-loading reports or bars in the middle of ingest's output
        hf_logging.disable_progress_bar()
        setup_offline()  # this program parses: unstructured with no telemetry and no spaCy download
        # before the first forward: OpenBLAS off the model's cores, bounded oneDNN caches
        tune_process(settings.embedder.device)
        try:
            embedder = Embedder.from_pretrained(**settings.embedder.load_options())
        except Exception as exc:
            raise Fatal(f"cannot load model {settings.embedder.model}: {exc}", UNAVAILABLE) from None
        if chunk_tokens > embedder.max_text_tokens:
            raise Fatal(f"--chunk-tokens {chunk_tokens} exceeds the model budget of {embedder.max_text_tokens}",
                        USAGE_ERROR)
        if warning := window_warning(chunk_tokens, embedder):
            _err(warning)
        if rebuild and store.exists():
            _err(f"--rebuild: deleting collection {store.name!r} ({store.count()} points)")
            store.drop()
        if store.exists():
            store.check_fingerprint(embedder.fingerprint)
    except StoreError as exc:
        store.close()
        raise Fatal(str(exc), NO_SPACE if isinstance(exc, StoreFullError) else UNAVAILABLE) from None
    except BaseException:
        store.close()
        raise
    _err(f"model: {embedder.fingerprint}")
    return store, embedder


def _sync_and_print(sync, force: bool, as_json: bool) -> IngestReport:  # noqa: ANN001
    """Run one sync and print its report; raise KeyboardInterrupt after printing when it was interrupted."""
    report = sync(force)
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False), flush=True)
    else:
        print(report.summary(), flush=True)
    if report.interrupted:
        raise KeyboardInterrupt
    return report


def _fail(message: str, code: int) -> typer.Exit:
    """Print `message` and return the exit to raise."""
    _err(f"ingest: {message}")
    return typer.Exit(code)


def _internal(exc: Exception) -> typer.Exit:
    """An unexpected error (a bug): say so with its type and message, exit 4."""
    return _fail(f"internal error (please report it): {type(exc).__name__}: {exc}", INTERNAL_ERROR)


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    """Console-script entry point."""
    app()
