"""One error map: the product's errors, and how every entry point reports each one.

The commands (`ingest`, `search`, `search eval`) end with the exit status of `ExitCode`; the HTTP query service
answers with the status the same rule gives. An error no rule names is a bug: exit status 4, HTTP 500.

Importing this module imports nothing of the product: the error types are imported the first time an error is
mapped (they live in the store package, which imports Qdrant). The service turns each error into one HTTP verdict
(`search.service.errors`), adding its own refusals (a missing API key, a body too large, a full queue); a client of
the service maps a refusal's status back to an exit status with `exit_for_status`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import IntEnum

INTERNAL_HTTP_STATUS = 500


class ExitCode(IntEnum):
    """The exit statuses of the commands (README, "Exit codes")."""

    OK = 0
    FILE_FAILURES = 1
    """`ingest` only: some files failed (each is listed with its reason); the rest went in."""
    USAGE = 2
    """Bad arguments, paths, settings or input files; a search request the product refuses."""
    REFUSED = 3
    """The store or the model refused or is unavailable: store locked, server unreachable, collection missing,
    fingerprint mismatch, store damaged, model not found or not loadable."""
    INTERNAL = 4
    """An unexpected error: a bug (one line naming it, no traceback)."""
    NO_SPACE = 5
    """The disk holding the embedded store is full; nothing was half-written."""
    INTERRUPTED = 130
    """Ctrl-C."""


class InvalidInputError(ValueError):
    """An argument or input file a command refuses, with a message that names it (exit status 2)."""


_STATUS_EXIT = {401: ExitCode.REFUSED, 404: ExitCode.REFUSED, 409: ExitCode.REFUSED, 422: ExitCode.USAGE,
                503: ExitCode.REFUSED}


def exit_for_status(status: int) -> ExitCode:
    """The exit status for an HTTP refusal of the service (the inverse of the rules below, where a status has more
    than one: a missing key, a missing collection or a busy service refuses, exit 3; an invalid request is a usage
    error, exit 2; any other status, exit 4)."""
    return _STATUS_EXIT.get(status, ExitCode.INTERNAL)


@dataclass(frozen=True)
class Rule:
    """How an error type (and its subclasses) is reported."""

    error: type[Exception]
    exit_code: ExitCode
    http_status: int
    label: str = ""
    """Put before the error's message on the command line, e.g. "cannot load model"."""
    http_error: str = ""
    """The `error` field of the service's answer; empty for the error type's own name (clients map it back)."""


@dataclass(frozen=True)
class Verdict:
    """What an entry point says about one error."""

    exit_code: ExitCode
    http_status: int
    message: str
    http_error: str


@functools.cache
def rules() -> tuple[Rule, ...]:
    """The map, most specific type first: the first rule whose type the error is an instance of applies."""
    from embedder.errors import ModelLoadError, ModelOptionError
    from search.settings import SettingsError
    from search.store.errors import (
        CollectionNotFoundError,
        FilterError,
        FingerprintMismatchError,
        StoreAddressError,
        StoreError,
        StoreFullError,
    )
    from search.validation import InvalidRequestError

    invalid = "ValidationError"
    return (
        Rule(StoreFullError, ExitCode.NO_SPACE, 503),  # the service only reads: a write never reaches it
        Rule(StoreAddressError, ExitCode.USAGE, 503),  # a malformed server URL: a setting, read before serving
        Rule(CollectionNotFoundError, ExitCode.REFUSED, 404),
        Rule(FingerprintMismatchError, ExitCode.REFUSED, 409),
        Rule(StoreError, ExitCode.REFUSED, 503),
        Rule(FilterError, ExitCode.USAGE, 422, http_error=invalid),
        Rule(InvalidRequestError, ExitCode.USAGE, 422, http_error=invalid),
        Rule(InvalidInputError, ExitCode.USAGE, 422, http_error=invalid),
        Rule(SettingsError, ExitCode.USAGE, INTERNAL_HTTP_STATUS),  # the service's settings are read before it starts
        Rule(ModelOptionError, ExitCode.USAGE, INTERNAL_HTTP_STATUS),  # the model is loaded before serving
        Rule(ModelLoadError, ExitCode.REFUSED, 503, label="cannot load model"),
    )


def verdict(error: BaseException) -> Verdict | None:
    """How to report `error`; None for an error no rule names (a bug: exit status 4, HTTP 500)."""
    for rule in rules():
        if isinstance(error, rule.error):
            message = f"{rule.label}: {error}" if rule.label else str(error)
            return Verdict(rule.exit_code, rule.http_status, message, rule.http_error or type(error).__name__)
    return None
