"""OpenAI's error shape for the `/v1/` endpoints: `{"error": {"message", "type", "param", "code"}}`.

OpenAI clients read errors in that shape (the `openai` SDK raises `NotFoundError`, `AuthenticationError`, ...
with its message), so every refusal of a `/v1/` path is answered in it: the ones made before the body is read by
`OpenAIGate` (a missing API key, an announced body over the limit), everything else by the routes' own
`OpenAIRoute`. The rest of the service keeps its own shape (`search.service.app`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from search.service.batching import QueueFullError
from search.service.guard import UNAUTHORIZED, BodyTooLargeError, key_matches
from search.validation import InvalidRequestError

log = logging.getLogger("search.service.app")

PREFIX = "/v1/"
INVALID = "invalid_request_error"


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    """An error as OpenAI's API answers it."""

    error: ErrorDetail


class OpenAIError(Exception):
    """A refusal of a `/v1/` request: its HTTP status and OpenAI's error fields."""

    def __init__(self, status: int, message: str, type: str = INVALID, param: str | None = None,
                 code: str | None = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = ErrorDetail(message=message, type=type, param=param, code=code)
        self.headers = dict(headers or {})

    def response(self) -> JSONResponse:
        return JSONResponse(ErrorBody(error=self.detail).model_dump(), status_code=self.status, headers=self.headers)


def _validation_error(exc: RequestValidationError) -> OpenAIError:
    errors = exc.errors()
    parts, params = [], []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        params.append(loc[0] if loc else None)
        parts.append(f"{'.'.join(loc) or 'body'}: {err.get('msg', 'invalid')}")
    return OpenAIError(422, "; ".join(parts), param=params[0] if params else None)


def as_openai_error(exc: Exception) -> OpenAIError:
    """The OpenAI-shaped answer to an exception raised while a `/v1/` request was handled; an unexpected one (a bug)
    is logged and answered 500 without its details."""
    if isinstance(exc, OpenAIError):
        return exc
    if isinstance(exc, RequestValidationError):
        return _validation_error(exc)
    if isinstance(exc, InvalidRequestError):
        return OpenAIError(422, str(exc))
    if isinstance(exc, QueueFullError):
        return OpenAIError(503, str(exc), type="server_error", code="overloaded",
                           headers={"Retry-After": str(exc.retry_after)})
    if isinstance(exc, HTTPException):
        if exc.status_code == 400:  # a body that cannot be decoded: a 422 like bad JSON, as on /search
            return OpenAIError(422, f"body: {exc.detail}")
        code = "request_too_large" if exc.status_code == 413 else None
        return OpenAIError(exc.status_code, str(exc.detail), code=code, headers=exc.headers)
    log.exception("unexpected error on a /v1/ request")
    return OpenAIError(500, f"internal error ({type(exc).__name__}); see the server log", type="server_error")


class OpenAIRoute(APIRoute):
    """A route that answers every refusal and failure in OpenAI's error shape, body validation included."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                return as_openai_error(exc).response()

        return answer


class OpenAIGate:
    """For `/v1/` paths, what `ApiKeyGuard` and `BodyLimit` refuse before the body is read, in OpenAI's shape: 401
    without the API key (when one is set), 413 for a `Content-Length` over `max_bytes`. Add it after them, so that
    it runs first; a chunked body that passes the limit is refused by `BodyLimit` and answered by `OpenAIRoute`."""

    def __init__(self, app: ASGIApp, api_key: str | None, max_bytes: int) -> None:
        self.app = app
        self.api_key = api_key
        self.max_bytes = max_bytes

    def _refusal(self, headers: Headers) -> OpenAIError | None:
        if self.api_key and not key_matches(headers, self.api_key):
            return OpenAIError(401, UNAUTHORIZED, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            return OpenAIError(413, str(BodyTooLargeError(self.max_bytes).detail), code="request_too_large")
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(PREFIX):
            refusal = self._refusal(Headers(scope=scope))
            if refusal is not None:
                await refusal.response()(scope, receive, send)
                return
        await self.app(scope, receive, send)
