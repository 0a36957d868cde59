"""How the service answers an error: one verdict per exception (`verdict_of`: status, name, message, exit status,
OpenAI's `param` and `code`, Retry-After), rendered in one of two shapes, chosen by route (`render`): the service's
own, `{"detail", "error"}` (`schema.ErrorResponse`), or on the `/v1/` routes OpenAI's, `{"error": {"message", "type",
"param", "code"}}`, which OpenAI clients read (the `openai` SDK raises `NotFoundError`, `AuthenticationError`, ...).

Everything that refuses a request asks it: the app's exception handlers and `OpenAIRoute` (the routes), `ApiKeyGuard`
and `BodyLimit` (before the body is read, `search.service.guard`), and `ingest`'s plugin (the last event of a streamed
ingest). Product errors take their status and name from the one error map, `search.errors`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from search.errors import INTERNAL_HTTP_STATUS, ExitCode, exit_for_status, rules, verdict
from search.service.admission import OverBudgetError, QueueFullError

log = logging.getLogger("search.service.app")

OPENAI_PREFIX = "/v1/"
"""The routes that answer in OpenAI's shape."""
INVALID = "ValidationError"

_HTTP_NAMES = {401: ("Unauthorized", "invalid_api_key"), 413: ("ContentTooLarge", "request_too_large")}
"""Starlette's refusals the service names: status -> (name, OpenAI's code)."""


@dataclass(frozen=True)
class HttpVerdict:
    """What the service says about one error, whichever shape renders it."""

    status: int
    error: str
    """The error's name: the `error` field of the service's shape."""
    message: str
    exit_code: ExitCode
    """What `ingest` exits with when the service's ingest ends with this error."""
    param: str | None = None
    """OpenAI's `param`: the request field at fault."""
    code: str | None = None
    """OpenAI's `code` (e.g. `model_not_found`)."""
    retry_after: int | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def type(self) -> str:
        """OpenAI's `type`."""
        return "server_error" if self.status >= 500 else "invalid_request_error"

    @property
    def internal(self) -> bool:
        """A bug: an error nothing names (logged, answered without its details)."""
        return self.status == INTERNAL_HTTP_STATUS and self.error == "InternalError"


def refusal(status: int, error: str, message: str, *, param: str | None = None, code: str | None = None,
            retry_after: int | None = None, headers: Mapping[str, str] | None = None) -> HttpVerdict:
    """A verdict whose exit status follows from its HTTP status (`search.errors.exit_for_status`)."""
    return HttpVerdict(status, error, message, exit_for_status(status), param, code, retry_after, dict(headers or {}))


class Refused(Exception):
    """A refusal a route states itself, with its verdict (an unknown model, an unknown run)."""

    def __init__(self, verdict: HttpVerdict) -> None:
        super().__init__(verdict.message)
        self.verdict = verdict


def _invalid(exc: RequestValidationError) -> HttpVerdict:
    parts, params = [], []
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        params.append(loc[0] if loc else None)
        parts.append(f"{'.'.join(loc) or 'body'}: {err.get('msg', 'invalid')}")
    return refusal(422, INVALID, "; ".join(parts), param=params[0] if params else None)


def verdict_of(exc: BaseException, as_command: bool = False) -> HttpVerdict:
    """The service's verdict on `exc`. An error nothing names is a bug: 500, its type in the message, the rest left
    to the server log. `as_command`: the message as the commands print it (for the service's own `ingest` client):
    a product error's label (`search.errors.Rule.label`), a bug's message."""
    if isinstance(exc, Refused):
        return exc.verdict
    if isinstance(exc, RequestValidationError):
        return _invalid(exc)
    if isinstance(exc, QueueFullError):
        return refusal(503, "QueueFull", str(exc), code="overloaded", retry_after=exc.retry_after)
    if isinstance(exc, HTTPException):
        if exc.status_code == 400:  # a body that cannot be decoded: a 422 like bad JSON
            return refusal(422, INVALID, f"body: {exc.detail}")
        name, code = _HTTP_NAMES.get(exc.status_code, (type(exc).__name__, None))
        return refusal(exc.status_code, name, str(exc.detail), code=code, headers=exc.headers)
    if found := verdict(exc):
        param = exc.param if isinstance(exc, OverBudgetError) else None
        return HttpVerdict(found.http_status, found.http_error, found.message if as_command else str(exc),
                           found.exit_code, param)
    bug = f"{type(exc).__name__}: {exc}" if as_command else type(exc).__name__
    return HttpVerdict(INTERNAL_HTTP_STATUS, "InternalError", f"internal error ({bug}); see the server log",
                       ExitCode.INTERNAL)


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """An error as OpenAI's API answers it."""

    error: ErrorDetail


def echo_body(verdict: HttpVerdict) -> dict[str, Any]:
    """The service's own error shape (`schema.ErrorResponse`)."""
    return {"detail": verdict.message, "error": verdict.error}


def openai_body(verdict: HttpVerdict) -> dict[str, Any]:
    """OpenAI's error shape."""
    detail = ErrorDetail(message=verdict.message, type=verdict.type, param=verdict.param, code=verdict.code)
    return ErrorBody(error=detail).model_dump()


def render(verdict: HttpVerdict, path: str) -> JSONResponse:
    """The answer to a request for `path`: OpenAI's shape under `/v1/`, else the service's."""
    body = openai_body(verdict) if path.startswith(OPENAI_PREFIX) else echo_body(verdict)
    headers = dict(verdict.headers)
    if verdict.retry_after is not None:
        headers["Retry-After"] = str(verdict.retry_after)
    return JSONResponse(body, status_code=verdict.status, headers=headers)


def answer(request: Request, exc: Exception) -> JSONResponse:
    """The service's answer to `exc`, raised while `request` was handled; a bug is logged with its traceback."""
    found = verdict_of(exc)
    if found.internal:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return render(found, request.url.path)


def add_error_handlers(app: FastAPI) -> None:
    """Answer every exception a route raises with `answer`."""

    async def handler(request: Request, exc: Exception) -> Response:
        return answer(request, exc)

    for error in (RequestValidationError, HTTPException, Refused, QueueFullError, *(rule.error for rule in rules())):
        app.add_exception_handler(error, handler)
    app.add_exception_handler(Exception, handler)  # a bug


class OpenAIRoute(APIRoute):
    """A route that answers every refusal and failure itself (body validation included), so that none reaches the
    app's last-resort handler: the `/v1/` routes."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answered(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return answer(request, exc)

        return answered
