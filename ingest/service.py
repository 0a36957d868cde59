"""Ingest in the process that holds the store: the service's `POST /ingest` and `POST /ingest/stop` (what `ingest`
hands its work to, and the UI's uploads) and `search serve --watch`, added to the service as a plugin
(`search.service.plugins`; registered as the entry point `ingest.service:plugin`). That process writes, and keeps
answering searches meanwhile.

The embedded store is not thread-safe, so every store call of an ingest runs through the service's `call` (the
batcher's worker thread, `MicroBatcher.call`), one call at a time between searches: searches keep being answered
while an ingest runs. The model is safe to share (all its forwards run on one
model thread). Each write bumps the collection's generation, under which answers are cached, so no answer from
before a write is served after it.

A streamed run (`POST /ingest`) has an id, sent in the `X-Ingest-Run` header; `POST /ingest/stop` with that id stops
it after the batch in flight, and its stream still ends with the report (what `ingest` prints on Ctrl-C).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar, cast

from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from ingest.chunking import window_warning
from ingest.events import ErrorDetail, ErrorEvent, IngestEvent, ProgressEvent, ReportEvent, WarningEvent
from ingest.handover import RUN_HEADER
from ingest.offline import setup_offline
from ingest.options import IngestOptions
from ingest.pipeline import ingest_paths
from ingest.report import IngestProgress, IngestReport
from search.errors import ExitCode, InvalidInputError
from search.query.searcher import Searcher
from search.service.errors import Refused, refusal, verdict_of
from search.service.plugins import ServiceContext
from search.store import Collection

log = logging.getLogger("search.service.app")  # beside the service's own lines
T = TypeVar("T")


class StopRequest(BaseModel):
    """Which streamed ingest to stop: the id its `POST /ingest` answered in `X-Ingest-Run`."""

    run: str = Field(min_length=1, max_length=64, description="The run's id.")


class StopResponse(BaseModel):
    stopping: bool = Field(description="The run stops after its batch in flight; its stream ends with the report.")


class OnWorker:
    """`target` with every method call run by `call` (the batcher's worker); iterators come back as lists."""

    def __init__(self, target: object, call: Callable[[Callable[[], Any]], Any]) -> None:
        self._target, self._call = target, call

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value) or not hasattr(value, "__self__"):  # plain attributes are read here
            return value

        def on_worker(*args: Any, **kwargs: Any) -> Any:
            def run() -> Any:
                result = value(*args, **kwargs)
                return list(result) if isinstance(result, Iterator) else result

            return self._call(run)

        return on_worker


def error_event(exc: BaseException) -> ErrorEvent:
    """The stream's last event for a run that raised: the service's verdict on it (`search.service.errors`), its
    message, error name and `ingest` exit code; a bug's type and message, as `ingest` prints them."""
    if isinstance(exc, FileNotFoundError):  # a path that vanished after the check: a usage error, as in `ingest`
        return ErrorEvent(error=ErrorDetail(detail=str(exc), error="FileNotFoundError", exit_code=ExitCode.USAGE))
    found = verdict_of(exc, as_command=True)
    if found.internal:
        log.error("ingest failed", exc_info=exc)
    return ErrorEvent(error=ErrorDetail(detail=found.message, error=found.error, exit_code=found.exit_code))


class ServiceIngest:
    """Runs ingests in the process that holds the store, one at a time (a second waits for the first); every store
    call goes through `call` (see the module docstring)."""

    protected = ("/ingest", "/ingest/stop")
    """The routes `plugin` adds: they need the service's API key."""

    def __init__(self, searcher: Searcher, call: Callable[[Callable[[], Any]], Any],
                 watched: IngestOptions | None = None) -> None:
        self.searcher, self._call, self._watched = searcher, call, watched
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._runs: dict[str, threading.Event] = {}

    def check(self, options: IngestOptions) -> None:
        """Refuse (`InvalidInputError`, 422) options that cannot run, before anything streams."""
        for path in options.paths:
            if not Path(path).is_absolute():
                raise InvalidInputError(f"paths must be absolute on the service's machine: {path}")
            if not Path(path).exists() and not Path(path).is_symlink():
                raise InvalidInputError(f"no such file or folder on the service's machine: {path}")
        limit = self.searcher.model.max_text_tokens
        if options.chunk_tokens > limit:
            raise InvalidInputError(f"--chunk-tokens {options.chunk_tokens} exceeds the model budget of {limit}")
        options.parsed_shard()  # a malformed shard is refused here

    def run(self, options: IngestOptions, progress: Callable[[IngestProgress], None] | None,
            stop: threading.Event) -> IngestReport:
        """Sync `options.paths` into the collection (blocking: call from a thread of its own); setting `stop` ends
        it after the batch in flight (`report.interrupted`)."""
        with self._lock:
            if self.closing.is_set():
                raise InvalidInputError("the service is shutting down")
            setup_offline()  # unstructured without telemetry or a spaCy download, as in `ingest`
            store = cast(Collection, OnWorker(self.searcher.store, self._call))
            return ingest_paths(options, store, self.searcher.model, progress=progress, stop=stop)

    def begin(self, options: IngestOptions) -> tuple[str, AsyncIterator[str]]:
        """A new streamed run of `options`: its id (for `stop`; the service sends it in the `X-Ingest-Run` header)
        and its stream (see `_stream`)."""
        run_id = uuid.uuid4().hex
        self._runs[run_id] = threading.Event()
        return run_id, self._stream(options, run_id)

    def stop(self, run_id: str) -> bool:
        """Stop the streamed run `run_id` after its batch in flight; False when no such run is going on."""
        stop = self._runs.get(run_id)
        if stop is not None:
            stop.set()
        return stop is not None

    async def _stream(self, options: IngestOptions, run_id: str) -> AsyncIterator[str]:
        """Run `options` on a thread; yield its events (`ingest.events`), one line each: a `WarningEvent` when its
        chunks do not fit the model's attention window (`window_warning`), `ProgressEvent`s, then one `ReportEvent`
        or `ErrorEvent`. A client that goes away stops the run after its batch in flight."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[IngestEvent] = asyncio.Queue()
        stop = self._runs[run_id]

        def emit(event: IngestEvent) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        def work() -> None:
            try:
                report = self.run(options, lambda p: emit(ProgressEvent(progress=replace(p))), stop)
                emit(ReportEvent(report=report))
            except Exception as exc:
                emit(error_event(exc))

        try:
            if warning := window_warning(options.chunk_tokens, self.searcher.model):
                yield WarningEvent(warning=warning).line()
            threading.Thread(target=work, name="service-ingest", daemon=True).start()
            while True:
                event = await events.get()
                yield event.line()
                if not isinstance(event, ProgressEvent):
                    return
        finally:
            stop.set()
            self._runs.pop(run_id, None)

    def watch(self, options: IngestOptions) -> None:
        """Sync `options.paths` now and after every change until `close` (blocking: its own thread)."""
        from ingest.watch import watch_paths

        def sync() -> None:
            try:
                log.info("watch: %s", self.run(options, None, self.closing).summary())
            except Exception:
                log.exception("watch: sync failed")

        if warning := window_warning(options.chunk_tokens, self.searcher.model):
            log.warning("watch: %s", warning)
        sync()
        watch_paths(options.paths, sync, self.closing)

    def start(self) -> None:
        """Keep the watched paths in sync on a thread of their own, if any (`search serve --watch`)."""
        if self._watched is not None:
            threading.Thread(target=self.watch, args=(self._watched,), name="service-watch", daemon=True).start()

    def close(self, timeout: float = 60.0) -> None:
        """Stop running ingests after their batch in flight and wait for them (before the store is closed)."""
        self.closing.set()
        for stop in list(self._runs.values()):
            stop.set()
        if self._lock.acquire(timeout=timeout):
            self._lock.release()


def plugin(app: FastAPI, context: ServiceContext) -> ServiceIngest:
    """Add `POST /ingest` and `POST /ingest/stop` to the service `app`, and its `--watch` paths' sync."""
    watched = IngestOptions.model_validate({"paths": list(context.watch)}) if context.watch else None
    ingests = ServiceIngest(context.searcher, context.call, watched)
    auth, errors = list(context.auth), dict(context.errors)

    @app.post("/ingest", dependencies=auth, response_class=StreamingResponse,
              responses={200: {"content": {"application/x-ndjson": {}}}, **errors},
              response_description="Newline-delimited JSON: a `warning` when the chunks do not fit the model's "
              "attention window, `progress` events, then one `report` or `error`. The `X-Ingest-Run` header holds "
              "the run's id.")
    async def ingest(body: IngestOptions) -> StreamingResponse:
        """Sync files and folders on the service's machine into the collection, as the `ingest` command does
        (one ingest at a time; searches are answered meanwhile). `POST /ingest/stop` with the run's id (header
        `X-Ingest-Run`) stops it after the batch in flight and the stream ends with the report so far; closing the
        connection stops it too."""
        ingests.check(body)
        run_id, stream = ingests.begin(body)
        return StreamingResponse(stream, media_type="application/x-ndjson", headers={RUN_HEADER: run_id})

    @app.post("/ingest/stop", status_code=202, response_model=StopResponse, dependencies=auth, responses=errors)
    async def stop_ingest(body: StopRequest) -> Any:
        """Stop the streamed ingest `run` after its batch in flight (what `ingest` does on Ctrl-C); its stream then
        ends with the report so far. 404 when no such run is going on (it ended, or never was)."""
        if not ingests.stop(body.run):
            raise Refused(refusal(404, "NotFound", f"no ingest {body.run!r} is running"))
        return StopResponse(stopping=True)

    return ingests
