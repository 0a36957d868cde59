"""The service's one verdict per error (`search.service.errors`), its two renderings, and the gate that admits the
model's work (`search.service.admission`). No model, no store."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException

from embedder.errors import ModelLoadError
from search.errors import ExitCode, InvalidInputError, exit_for_status
from search.service.admission import Admission, OverBudgetError, QueueFullError
from search.service.errors import HttpVerdict, Refused, refusal, render, verdict_of
from search.service.guard import BodyTooLargeError, UnauthorizedError
from search.store.errors import CollectionNotFoundError, FingerprintMismatchError, StoreUnavailableError
from search.validation import InvalidRequestError


def _bodies(verdict: HttpVerdict) -> tuple[dict, dict, dict]:
    """(echo body, OpenAI body, echo headers)."""
    echo, openai = render(verdict, "/search"), render(verdict, "/v1/embeddings")
    assert echo.status_code == openai.status_code == verdict.status
    headers = {k: v for k, v in echo.headers.items() if k != "content-length"}
    assert headers == {k: v for k, v in openai.headers.items() if k != "content-length"}
    return json.loads(echo.body), json.loads(openai.body), headers


@pytest.mark.parametrize(("error", "status", "name", "exit_code"), [
    (CollectionNotFoundError("no collection"), 404, "CollectionNotFoundError", ExitCode.REFUSED),
    (FingerprintMismatchError("other model"), 409, "FingerprintMismatchError", ExitCode.REFUSED),
    (StoreUnavailableError("down"), 503, "StoreUnavailableError", ExitCode.REFUSED),
    (InvalidRequestError("k must be between 1 and 100"), 422, "ValidationError", ExitCode.USAGE),
    (InvalidInputError("no such file"), 422, "ValidationError", ExitCode.USAGE),
    (QueueFullError(3, 2), 503, "QueueFull", ExitCode.REFUSED),
    (UnauthorizedError(), 401, "Unauthorized", ExitCode.REFUSED),
    (BodyTooLargeError(10), 413, "ContentTooLarge", ExitCode.INTERNAL),
    (HTTPException(405, "Method Not Allowed"), 405, "HTTPException", ExitCode.INTERNAL),
    (ValueError("operands could not be broadcast"), 500, "InternalError", ExitCode.INTERNAL),
])
def test_each_error_has_one_verdict_rendered_in_both_shapes(error: Exception, status: int, name: str,
                                                            exit_code: ExitCode) -> None:
    verdict = verdict_of(error)
    assert (verdict.status, verdict.error, verdict.exit_code) == (status, name, exit_code)
    echo, openai, _ = _bodies(verdict)
    assert echo == {"detail": verdict.message, "error": name}
    assert set(openai) == {"error"} and openai["error"]["message"] == verdict.message
    assert openai["error"]["type"] == ("server_error" if status >= 500 else "invalid_request_error")


def test_a_bug_keeps_its_details_out_of_the_answer_unless_a_command_prints_it() -> None:
    bug = ValueError("operands could not be broadcast")
    assert verdict_of(bug).internal and "broadcast" not in verdict_of(bug).message
    assert "ValueError: operands could not be broadcast" in verdict_of(bug, as_command=True).message
    assert not verdict_of(InvalidRequestError("bad")).internal
    unloadable = ModelLoadError("no such model")
    assert verdict_of(unloadable).message == "no such model"
    assert verdict_of(unloadable, as_command=True).message == "cannot load model: no such model"


def test_the_service_own_refusals_carry_openai_codes_and_headers() -> None:
    _, openai, headers = _bodies(verdict_of(QueueFullError(7, 4)))
    assert openai["error"]["code"] == "overloaded" and headers["retry-after"] == "4"
    _, openai, headers = _bodies(verdict_of(UnauthorizedError()))
    assert openai["error"]["code"] == "invalid_api_key" and headers["www-authenticate"] == "Bearer"
    _, openai, _ = _bodies(verdict_of(BodyTooLargeError(10)))
    assert openai["error"]["code"] == "request_too_large"
    stated = refusal(404, "NotFound", "no such model", param="model", code="model_not_found")
    assert verdict_of(Refused(stated)) is stated and stated.exit_code == ExitCode.REFUSED
    _, openai, _ = _bodies(stated)
    assert openai["error"] == {"message": "no such model", "type": "invalid_request_error", "param": "model",
                               "code": "model_not_found"}


def test_invalid_bodies_name_the_field_in_both_shapes() -> None:
    invalid = RequestValidationError([{"loc": ("body", "input", 0), "msg": "bad text", "type": "x"},
                                      {"loc": ("body",), "msg": "not JSON", "type": "y"}])
    verdict = verdict_of(invalid)
    assert (verdict.status, verdict.error, verdict.exit_code) == (422, "ValidationError", ExitCode.USAGE)
    assert verdict.message == "input.0: bad text; body: not JSON" and verdict.param == "input"
    undecodable = verdict_of(HTTPException(400, "There was an error parsing the body"))
    assert (undecodable.status, undecodable.error) == (422, "ValidationError")
    assert undecodable.message.startswith("body: ")


def test_the_handover_maps_a_refusal_back_to_the_exit_status_of_its_verdict() -> None:
    for error in (CollectionNotFoundError("x"), FingerprintMismatchError("x"), StoreUnavailableError("x"),
                  InvalidRequestError("x"), QueueFullError(1, 1), UnauthorizedError(), ValueError("bug")):
        verdict = verdict_of(error)
        assert exit_for_status(verdict.status) == verdict.exit_code, error


def _gate(**fields: int) -> Admission:
    return Admission(**fields)


def test_the_gate_refuses_a_prompt_over_the_budget_naming_the_field() -> None:
    gate = _gate(max_tokens=100)
    gate.check_tokens([100], "query", "{tokens} tokens")
    with pytest.raises(OverBudgetError) as one:
        gate.check_tokens([101], "query", "{tokens} tokens")
    assert str(one.value) == "query: 101 tokens; the limit is 100 tokens (SEARCH_MAX_QUERY_TOKENS)"
    with pytest.raises(OverBudgetError) as many:
        gate.check_tokens([5, 300, 200], "input", "a prompt of {tokens} tokens", indexed=True)
    assert str(many.value) == ("input[1]: a prompt of 300 tokens; the limit is 100 tokens per text "
                               "(SEARCH_MAX_QUERY_TOKENS); 2 texts are over it")
    verdict = verdict_of(many.value)
    assert (verdict.status, verdict.error, verdict.param) == (422, "ValidationError", "input")


def test_the_gate_bounds_requests_by_everything_waiting_and_searches_by_searches() -> None:
    gate = _gate(max_queue=3, max_batch=2)
    queued = [1]
    gate.counts(lambda: queued[0])
    with gate.request(), gate.request():
        assert gate.waiting == 3 and gate.held == 2
        with pytest.raises(QueueFullError) as full, gate.request():
            pass
        assert gate.held == 2  # a refused request is not counted
        gate.admit_search()  # a bulk request never crowds searches out
    assert gate.held == 0
    gate.forward_seconds = 2.5
    queued[0] = 3
    with pytest.raises(QueueFullError) as slow:
        gate.admit_search()
    assert full.value.retry_after == 3  # (3 waiting / 2 per batch + 1) batches of 1 s
    assert slow.value.retry_after == 8  # 3 batches of 2.5 s


def test_a_request_leaves_the_count_when_it_is_cancelled() -> None:
    gate = _gate(max_queue=1)

    async def held() -> None:
        with gate.request():
            await asyncio.sleep(60)

    async def main() -> None:
        task = asyncio.ensure_future(held())
        await asyncio.sleep(0)
        assert gate.held == 1
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    assert gate.held == 0
