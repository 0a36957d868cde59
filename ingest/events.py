"""The events of a handed-over ingest, one typed model each: what the service's `POST /ingest` streams
(`ingest.service`) and what `ingest` and the UI read (`ingest.handover`), as newline-delimited JSON.

A stream is an optional `{"warning": ...}` (the chunks do not fit the model's attention window), `{"progress": ...}`
events, then one `{"report": ...}` (the `ingest --json` report) or `{"error": {detail, error, exit_code}}`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, PlainValidator, TypeAdapter

from ingest.report import IngestProgress, IngestReport


def _report(value: Any) -> IngestReport:
    """An `IngestReport`, or the one `IngestReport.to_dict` wrote."""
    if isinstance(value, IngestReport):
        return value
    try:
        return IngestReport.from_dict(value)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not an ingest report ({type(exc).__name__}: {exc})") from None


WireReport = Annotated[IngestReport, PlainValidator(_report), PlainSerializer(IngestReport.to_dict)]
"""An `IngestReport`, on the wire as its `to_dict`."""


class _Event(BaseModel):
    def line(self) -> str:
        """The event as one line of the stream."""
        return json.dumps(self.model_dump(mode="json"), ensure_ascii=False) + "\n"


class WarningEvent(_Event):
    """A warning about the whole run, said before it starts (`ingest.chunking.window_warning`)."""

    warning: str


class ProgressEvent(_Event):
    """Work done so far, sent as batches are stored and files finished."""

    progress: IngestProgress


class ReportEvent(_Event):
    """The run's last event when it ended (an interrupted run too): its report."""

    report: WireReport


class ErrorDetail(BaseModel):
    """Why a run failed: the message, the error's name (as the service's error answers name it) and the exit code
    `ingest` exits with."""

    detail: str
    error: str
    exit_code: int = Field(description="The exit status of `ingest` for this error.")


class ErrorEvent(_Event):
    """The run's last event when it raised."""

    error: ErrorDetail


IngestEvent = WarningEvent | ProgressEvent | ReportEvent | ErrorEvent
_EVENT: TypeAdapter[IngestEvent] = TypeAdapter(IngestEvent)


def read_event(line: str) -> IngestEvent:
    """The event of one line of the stream; `ValueError` (a pydantic `ValidationError` or bad JSON) for a line that
    is none."""
    return _EVENT.validate_python(json.loads(line))
