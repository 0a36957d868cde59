"""The one error map (`search.errors`): each product error -> exit status -> HTTP status, used by the commands and
the service alike."""

from __future__ import annotations

import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import search.store.errors as store_errors
from embedder.errors import ModelLoadError, ModelNotFoundError, ModelOptionError
from search.errors import ExitCode, InvalidInputError, verdict
from search.evaluation.data import DataError
from search.query.remote import SearchServiceError
from search.settings import SettingsError
from search.store import (
    CollectionNotFoundError,
    FilterError,
    FingerprintMismatchError,
    MissingBm25Error,
    OldFormatError,
    StoreAddressError,
    StoreDamagedError,
    StoreError,
    StoreFullError,
    StoreLockedError,
    StoreUnavailableError,
)
from search.validation import InvalidRequestError

ROOT = Path(__file__).resolve().parents[1]

MAP = [  # error, exit status, HTTP status, the answer's `error` field (None: the type's name)
    (StoreFullError, ExitCode.NO_SPACE, 503, None),
    (StoreAddressError, ExitCode.USAGE, 503, None),
    (CollectionNotFoundError, ExitCode.REFUSED, 404, None),
    (FingerprintMismatchError, ExitCode.REFUSED, 409, None),
    (StoreLockedError, ExitCode.REFUSED, 503, None),
    (StoreUnavailableError, ExitCode.REFUSED, 503, None),
    (StoreDamagedError, ExitCode.REFUSED, 503, None),
    (OldFormatError, ExitCode.REFUSED, 503, None),
    (MissingBm25Error, ExitCode.REFUSED, 503, None),
    (StoreError, ExitCode.REFUSED, 503, None),
    (SearchServiceError, ExitCode.REFUSED, 503, None),
    (FilterError, ExitCode.USAGE, 422, "ValidationError"),
    (InvalidRequestError, ExitCode.USAGE, 422, "ValidationError"),
    (InvalidInputError, ExitCode.USAGE, 422, "ValidationError"),
    (DataError, ExitCode.USAGE, 422, "ValidationError"),
    (SettingsError, ExitCode.USAGE, 500, None),
    (ModelOptionError, ExitCode.USAGE, 500, None),
    (ModelLoadError, ExitCode.REFUSED, 503, None),
    (ModelNotFoundError, ExitCode.REFUSED, 503, None),
]


@pytest.mark.parametrize(("error", "exit_code", "http_status", "http_error"), MAP)
def test_each_error_has_its_exit_status_and_http_status(
    error: type[Exception], exit_code: ExitCode, http_status: int, http_error: str | None
) -> None:
    found = verdict(error("what happened"))
    assert found is not None
    assert (found.exit_code, found.http_status, found.http_error) == (exit_code, http_status,
                                                                      http_error or error.__name__)
    assert found.message.endswith("what happened")


def test_a_model_that_cannot_load_says_so_and_anything_else_is_a_bug() -> None:
    found = verdict(ModelNotFoundError("model 'x' is not a local folder"))
    assert found is not None and found.message == "cannot load model: model 'x' is not a local folder"
    for bug in (ValueError("operands could not be broadcast"), RuntimeError("boom"), KeyError("k"), OSError(2, "x")):
        assert verdict(bug) is None, bug  # internal error: exit 4, HTTP 500


def test_every_store_error_is_mapped() -> None:
    errors = {cls for _, cls in inspect.getmembers(store_errors, inspect.isclass)
              if cls.__module__ == store_errors.__name__}
    assert errors <= {error for error, *_ in MAP}


def test_exit_codes_are_the_documented_ones() -> None:
    assert {code.name: int(code) for code in ExitCode} == {
        "OK": 0, "FILE_FAILURES": 1, "USAGE": 2, "REFUSED": 3, "INTERNAL": 4, "NO_SPACE": 5, "INTERRUPTED": 130}
    readme = " ".join((ROOT / "README.md").read_text().split())
    start = readme.index("Exit codes: ")
    sentence = readme[start:readme.index(" interrupted.", start)]
    assert [int(n) for n in re.findall(r"(?:: |; )(\d+)\b", sentence)] == [int(code) for code in ExitCode]


def test_importing_the_map_imports_nothing_heavy() -> None:
    code = "import sys, search.errors; print(sorted(m for m in ('torch', 'qdrant_client', 'search.store') " \
           "if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


class Refusing:
    """A searcher whose every store call raises `error`."""

    embedder = None  # no model: the service answers /collection without one

    def __init__(self, error: Exception) -> None:
        self.error = error

    def info(self) -> None:
        raise self.error


@pytest.mark.parametrize(("error", "exit_code", "http_status", "http_error"), MAP)
def test_the_service_answers_with_the_maps_status(
    error: type[Exception], exit_code: ExitCode, http_status: int, http_error: str | None
) -> None:
    from search.service.app import create_app

    with TestClient(create_app(Refusing(error("what happened")))) as client:  # type: ignore[arg-type]
        answer = client.get("/collection")
    assert answer.status_code == http_status
    assert answer.json() == {"detail": "what happened", "error": http_error or error.__name__}
