"""The `ingest` command: sync files and folders into the collection (embedded store or a Qdrant server)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from ingest.budget import DEFAULT_MAX_FILE_CHUNKS, DEFAULT_MAX_FILE_MB
from ingest.chunking import DEFAULT_CHUNK_TOKENS, window_warning
from ingest.handover import HandoverError, ingest_via_service
from ingest.offline import setup_offline
from ingest.options import IngestOptions
from ingest.pipeline import DEFAULT_BATCH_SIZE, GPU_BATCH_SIZE, ingest_paths
from ingest.progress import progress_display
from ingest.report import IngestReport
from search.cli.errors import say_error, say_internal_error
from search.cli.options import CollectionName, DataDir, Model, QdrantKey, QdrantUrl, settings_with_flags
from search.errors import ExitCode, InvalidInputError, verdict
from search.query.backend import holder_url
from search.settings import Settings

if TYPE_CHECKING:
    from embedder import Embedder
    from search.service.child import ChildService
    from search.store import Collection

app = typer.Typer(add_completion=False, rich_markup_mode=None)


@app.command(
    help=(
        "Parse, chunk and embed PATHs (files and folders) into the search collection, incrementally: unchanged "
        "files are skipped, changed ones replaced, files gone from the folders removed. Without --qdrant-url the "
        "embedded store under the data folder is used (one process at a time); when a `search serve` holds it, "
        "the work is handed to that service (or to the one --service names). Formats: .txt .md .rst .html .pdf "
        ".docx .pptx .csv .tsv .json .eml. Files are handled smallest first; a file over --max-file-mb or "
        "--max-file-chunks is reported as failed (too large). Ctrl-C finishes the batch in flight, prints the "
        f"report so far and exits {ExitCode.INTERRUPTED}; running again finishes the rest. Exit codes: "
        f"{ExitCode.OK} every file was handled; {ExitCode.FILE_FAILURES} some files failed (they are listed); "
        f"{ExitCode.USAGE} usage error (bad arguments or paths); {ExitCode.REFUSED} the store or model refused or is "
        "unavailable (locked store, server unreachable, fingerprint mismatch, model not found); "
        f"{ExitCode.INTERNAL} unexpected internal error; {ExitCode.NO_SPACE} the disk holding the store is full "
        f"(nothing half-written: free space and run again); {ExitCode.INTERRUPTED} interrupted."
    )
)
def run(
    paths: Annotated[list[Path], typer.Argument(help="Files and folders to ingest.", show_default=False)],
    collection: CollectionName = None,
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
    service: Annotated[str | None, typer.Option("--service", show_default=False, help=(
        "URL of a running `search serve` to do the ingest (PATHs as its machine sees them; SEARCH_API_KEY is sent). "
        "Without it, a service announced in the embedded store's folder is used."))] = None,
    ray: Annotated[str | None, typer.Option("--ray", metavar="ADDRESS",
                                            help="Run on Ray Data (pip install \"echo-search[ray]\"): 'local' starts "
                                                 "a Ray on this machine, 'auto' joins the cluster this machine is "
                                                 "part of (ray start), HOST:PORT a cluster's head, ray://HOST:PORT "
                                                 "through Ray Client; anything else is a usage error.",
                                            show_default=False)
                   ] = None,
    ray_actors: Annotated[int | None, typer.Option(min=1,
                                                   help="With --ray: embedding actors (each loads the model) "
                                                        "[default: one per GPU of the cluster, else one]",
                                                   show_default=False)] = None,
) -> None:
    child: ChildService | None = None
    try:
        options = IngestOptions(paths=paths, force=force, chunk_tokens=chunk_tokens, batch_size=batch_size,
                                shard=shard, max_file_mb=max_file_mb, max_file_chunks=max_file_chunks)
        _check(options, ray, rebuild, named_service=service is not None)
        settings = settings_with_flags(collection, qdrant_url, qdrant_api_key, data_dir, model)
        url, child = _holder(settings, service, ray=ray, rebuild=rebuild, watch=watch)
        store, embedder = _open(settings, chunk_tokens, rebuild) if url is None else (None, None)
    except typer.BadParameter as exc:  # a setting or flag with a value that cannot be used
        raise _fail(str(exc), ExitCode.USAGE) from None
    except KeyboardInterrupt:
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except Exception as exc:
        raise _exit(exc) from None
    display: Literal["bar", "lines"] = "bar" if sys.stderr.isatty() and not as_json else "lines"
    try:
        if url is not None:
            sync = _handed_over(url, settings.service.api_key, options.absolute(), display)
        else:
            assert store is not None and embedder is not None
            sync = _here(options, store, embedder, display, settings, ray, ray_actors)
        report = _sync_and_watch(sync, options, watch, as_json)
    except KeyboardInterrupt:
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except FileNotFoundError as exc:  # a path vanished after the check above
        raise _fail(str(exc), ExitCode.USAGE) from None
    except HandoverError as exc:
        raise _fail(str(exc), exc.exit_code) from None
    except Exception as exc:  # e.g. a full disk, found before a batch: what is stored is intact
        raise _exit(exc) from None
    finally:
        if store is not None:
            store.close()
        if child is not None:
            child.stop()
    raise typer.Exit(ExitCode.OK if report.ok else ExitCode.FILE_FAILURES)


Sync = Callable[[bool], IngestReport]
"""One sync of the paths, printing its progress; its argument: re-embed every file (`--force`, first sync only)."""


def _check(options: IngestOptions, ray: str | None, rebuild: bool, named_service: bool) -> None:
    """Refuse (`InvalidInputError`) flags that do not go together and paths that do not exist, before anything is
    opened; a named service checks its own paths."""
    if ray is not None:
        from ingest.ray_runner import check_address

        check_address(ray)
    share = options.parsed_shard()
    if ray and share:
        raise InvalidInputError("--ray spreads the files over the cluster itself: drop --shard")
    if rebuild and share:
        raise InvalidInputError("--rebuild deletes the whole collection: run it once, without --shard, before "
                                "the workers")
    if not named_service:
        for path in options.paths:
            if not path.exists() and not path.is_symlink():
                raise InvalidInputError(f"no such file or folder: {path}")


def _holder(settings: Settings, service: str | None, *, ray: str | None, rebuild: bool,
            watch: bool) -> tuple[str | None, ChildService | None]:
    """The URL of the search service to hand the ingest to (None: run it here), and the service this command
    starts to hold the embedded store while it watches (None when it starts none)."""
    url = service or _announced(settings)
    if url is not None and ray:
        raise InvalidInputError(f"the search service at {url} does this ingest itself: drop --ray, or stop the "
                                "service to ingest on Ray")
    if url is not None and rebuild:
        raise InvalidInputError(f"--rebuild deletes the collection the search service at {url} serves: stop "
                                "the service, then run it")
    if url is None and watch and not ray and not rebuild and not settings.store.qdrant_url:
        # a watch runs for long: hold the store through a service, which everyone else can then reach
        from search.service.child import start_service

        child = start_service(settings)
        _err(f"search service {child.url} holds the store while this watch runs (search, the UI and the other "
             f"commands reach it; its log: {child.log})")
        return child.url, child
    return url, None


def _handed_over(url: str, api_key: str | None, options: IngestOptions, display: Literal["bar", "lines"]) -> Sync:
    """Syncs run by the search service at `url` (`ingest.handover`), with their progress and warnings shown here."""
    warned: set[str] = set()

    def warn_once(message: str) -> None:  # the service warns on each sync of a --watch: say it once, as a local run
        if message not in warned:
            warned.add(message)
            _err(message)

    def sync(force: bool) -> IngestReport:
        with progress_display(display) as progress, _stop_on_ctrl_c() as stop:
            return ingest_via_service(url, api_key, options.model_copy(update={"force": force}), progress, warn_once,
                                      stop)

    return sync


def _here(options: IngestOptions, store: Collection, embedder: Embedder, display: Literal["bar", "lines"],
          settings: Settings, ray: str | None, ray_actors: int | None) -> Sync:
    """Syncs run in this process: on Ray Data when `ray` names a cluster, else by `ingest_paths`."""

    def sync(force: bool) -> IngestReport:
        now = options.model_copy(update={"force": force})
        with progress_display(display) as progress, _stop_on_ctrl_c() as stop:
            if ray:
                from ingest.ray_runner import ingest_paths_ray

                return ingest_paths_ray(now, store, embedder, settings.embedder.load_options(), address=ray,
                                        actors=ray_actors, progress=progress, stop=stop)
            return ingest_paths(now, store, embedder, progress=progress, stop=stop)

    return sync


def _sync_and_watch(sync: Sync, options: IngestOptions, watch: bool, as_json: bool) -> IngestReport:
    """The first sync (with `options.force`); with `watch`, then one after each change until Ctrl-C."""
    report = _sync_and_print(sync, options.force, as_json)
    if watch:
        from ingest.watch import watch_paths

        _err(f"watching {', '.join(map(str, options.paths))} for changes (Ctrl-C to stop)")
        watch_paths(options.paths, lambda: _sync_and_print(sync, False, as_json))
    return report


def _announced(settings: Settings) -> str | None:
    """The URL of a live `search serve` that holds the embedded store these settings name (None for a server)."""
    url = holder_url(settings)
    if url is not None:
        _err(f"the search service at {url} holds the embedded store: handing the ingest over to it")
    return url


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


def _open(settings: Settings, chunk_tokens: int, rebuild: bool = False):  # noqa: ANN202
    from search.store import open_collection

    where = settings.store
    # first, before torch and the model load: a locked, damaged or unreachable store is refused at once
    store = open_collection(**where.collection_options())
    kind = "Qdrant server" if where.qdrant_url else "embedded store (data folder)"
    _err(f"{kind}: {store.location}  collection: {store.name}")
    try:
        from embedder import Embedder, tune_process

        setup_offline()  # this program parses: unstructured with no telemetry and no spaCy download
        # before the first forward: OpenBLAS off the model's cores, bounded oneDNN caches
        tune_process(settings.embedder.device, quiet=True)  # no loading reports amid ingest's output
        embedder = Embedder.from_pretrained(**settings.embedder.load_options())
        if chunk_tokens > embedder.max_text_tokens:
            raise InvalidInputError(f"--chunk-tokens {chunk_tokens} exceeds the model budget of "
                                    f"{embedder.max_text_tokens}")
        if warning := window_warning(chunk_tokens, embedder):
            _err(warning)
        if rebuild and store.exists():
            _err(f"--rebuild: deleting collection {store.name!r} ({store.count()} points)")
            store.drop()
        if store.exists():
            store.check_fingerprint(embedder.fingerprint)
    except BaseException:
        store.close()
        raise
    _err(f"model: {embedder.fingerprint}")
    return store, embedder


def _sync_and_print(sync: Sync, force: bool, as_json: bool) -> IngestReport:
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
    """Print `message` as every command prints an error and return the exit to raise."""
    say_error(message)
    return typer.Exit(code)


def _exit(exc: Exception) -> typer.Exit:
    """The exit for `exc`: its message and exit status from `search.errors`, else (a bug) "internal error" with its
    type and message, exit 4."""
    if found := verdict(exc):
        return _fail(found.message, found.exit_code)
    say_internal_error(exc)
    return typer.Exit(ExitCode.INTERNAL)


def _err(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main() -> None:
    """Console-script entry point."""
    app()
