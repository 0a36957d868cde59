"""How the service answers an error: every product error with the status and name of `search.errors` (one map),
Starlette's own refusals, a full queue and a bug, all in the body of `schema.ErrorResponse`."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from search.errors import INTERNAL_HTTP_STATUS, rules, verdict
from search.service.batching import QueueFullError

log = logging.getLogger("search.service.app")


def _error(status: int, exc: Exception, kind: str | None = None) -> JSONResponse:
    return JSONResponse({"detail": str(exc), "error": kind or type(exc).__name__}, status_code=status)


def _readable(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)



def add_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every exception into the service's error shape."""
    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _readable(exc), "error": "ValidationError"}, status_code=422)

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        """Starlette's own refusals in our error shape; a body that cannot be decoded (400) is a 422 like bad JSON."""
        if exc.status_code == 400:
            return _error(422, RuntimeError(f"body: {exc.detail}"), "ValidationError")
        if exc.status_code == 413:
            return _error(413, RuntimeError(str(exc.detail)), "ContentTooLarge")
        return JSONResponse({"detail": str(exc.detail), "error": type(exc).__name__}, status_code=exc.status_code,
                            headers=exc.headers)

    async def _refused(_: Request, exc: Exception) -> JSONResponse:
        """A product error (store, request, model), answered with the status and error name of `search.errors`."""
        found = verdict(exc)
        assert found is not None  # registered for the map's types only
        return _error(found.http_status, exc, found.http_error)

    for rule in rules():
        app.add_exception_handler(rule.error, _refused)

    @app.exception_handler(QueueFullError)
    async def _busy(_: Request, exc: QueueFullError) -> JSONResponse:
        return JSONResponse({"detail": str(exc), "error": "QueueFull"}, status_code=503,
                            headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(INTERNAL_HTTP_STATUS, RuntimeError(f"internal error ({type(exc).__name__}); see the server log"),
                      "InternalError")
