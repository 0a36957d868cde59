"""ASGI middleware that refuses requests before their body is read: a missing API key (FastAPI reads and parses a
body before it runs any dependency) and a body over the size limit. Their refusals are verdicts of
`search.service.errors`, in the shape of the route asked for (OpenAI's under `/v1/`)."""

from __future__ import annotations

import secrets
from collections.abc import Container

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from search.service.errors import OPENAI_PREFIX, render, verdict_of

UNAUTHORIZED = "missing or wrong API key: send it as 'X-API-Key: KEY' or 'Authorization: Bearer KEY'"


def key_matches(headers: Headers, api_key: str) -> bool:
    """True when `X-API-Key` or `Authorization: Bearer` carries `api_key` (compared in constant time)."""
    given = headers.get("x-api-key")
    if given is None:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        given = credentials.strip() if scheme.lower() == "bearer" else None
    return given is not None and secrets.compare_digest(given.encode(), api_key.encode())


class UnauthorizedError(HTTPException):
    """A request without the API key (401)."""

    def __init__(self) -> None:
        super().__init__(401, UNAUTHORIZED, headers={"WWW-Authenticate": "Bearer"})


class ApiKeyGuard:
    """Answers 401 to HTTP requests for the `protected` paths, and every `/v1/` path, that lack the key, without
    reading their body."""

    def __init__(self, app: ASGIApp, api_key: str, protected: Container[str]) -> None:
        self.app = app
        self.api_key = api_key
        self.protected = protected

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        protected = scope["type"] == "http" and (scope["path"] in self.protected
                                                 or scope["path"].startswith(OPENAI_PREFIX))
        if protected and not key_matches(Headers(scope=scope), self.api_key):
            await render(verdict_of(UnauthorizedError()), scope["path"])(scope, receive, send)
            return
        await self.app(scope, receive, send)


class BodyTooLargeError(HTTPException):
    """413; raised from `receive` once a body passes the limit (the app's HTTPException handler answers it)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body over {max_bytes} bytes (SEARCH_MAX_BODY_BYTES)")


class BodyLimit:
    """413 for bodies over `max_bytes`: at once when `Content-Length` says so, else as soon as a chunked body
    passes the limit (nothing beyond it is read)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await render(verdict_of(BodyTooLargeError(self.max_bytes)), scope["path"])(scope, receive, send)
            return
        received = 0

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.max_bytes:
                raise BodyTooLargeError(self.max_bytes)
            return message

        await self.app(scope, limited, send)
