"""schemathesis against the service's own OpenAPI document: no 5xx, and every status code it answers is documented.

A real uvicorn on loopback over the tiny model and a real local Qdrant; a bounded number of generated requests per
operation, so it runs in seconds.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.store import open_collection
from tests.search_helpers import fill, running

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory, tiny_embedder) -> Iterator[str]:
    store = open_collection(path=tmp_path_factory.mktemp("schema") / "qdrant")
    fill(store, tiny_embedder)
    # a small token budget, so that generated long queries also meet the 422 refusal
    settings_ = ServiceSettings(max_query_tokens=400)
    try:
        with running(create_app(Searcher(store=store, embedder=tiny_embedder), settings_)) as base:
            yield base
    finally:
        store.close()


@pytest.fixture(scope="module")
def api_schema(url: str) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


KNOWN_CASES = {
    "an instruction with template slots": ({"query": "q", "instruction": "{text} {0}"}, "instruction"),
    "an instruction with the instruction slot": ({"query": "q", "instruction": "x {instruction}"}, "instruction"),
    "has_id with a non-UUID": ({"query": "q", "filter": {"must": [{"has_id": ["not-a-uuid"]}]}}, "has_id"),
    "has_id nested in a should": (
        {"query": "q", "filter": {"should": [{"must_not": [{"has_id": ["zz"]}]}]}}, "has_id"),
    "a negative values_count": (
        {"query": "q", "filter": {"must": [{"key": "source", "values_count": {"gte": -1}}]}}, "values_count"),
    "k given as true": ({"query": "q", "k": True}, "k"),
    "k given as a numeric string": ({"query": "q", "k": "3"}, "k"),
    "a query with a lone surrogate": ({"query": "a \ud800 b"}, "query"),
    "an instruction with a lone surrogate": ({"query": "q", "instruction": "\udcff"}, "instruction"),
}
"""Requests that once got a 500 (or were misread): each gets 422 naming what is wrong."""


@pytest.mark.parametrize("body,field", KNOWN_CASES.values(), ids=KNOWN_CASES.keys())
def test_known_invalid_requests_get_422_with_the_reason(url: str, body: dict, field: str) -> None:
    import json

    import httpx

    response = httpx.post(f"{url}/search", content=json.dumps(body), timeout=60,  # ASCII JSON: \ud800 escaped
                          headers={"content-type": "application/json"})
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"], response.text


@pytest.mark.parametrize("mode", list(GenerationMode))
def test_the_service_keeps_to_its_openapi_document(api_schema: schemathesis.BaseSchema, mode: GenerationMode) -> None:
    """Valid requests (positive) and requests that break the schema (negative) against every operation."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} == {"/search", "/health", "/collection", "/v1/embeddings", "/v1/models",
                                              "/metrics", "/ingest", "/ingest/stop", "/chunks", "/rerank"}
    # /ingest reads and writes whatever absolute paths it is given (a generated "/" would walk the whole machine):
    # tested with real folders in test_service_ingest.py
    operations = [op for op in operations if op.path != "/ingest"]
    statuses: set[int] = set()
    for operation in operations:
        if mode == GenerationMode.NEGATIVE and operation.method.upper() == "GET" and operation.path != "/chunks":
            continue  # nothing in a parameterless GET can break the schema

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            statuses.add(case.call_and_validate(checks=CHECKS).status_code)

        check()
    assert (200 in statuses) if mode == GenerationMode.POSITIVE else (422 in statuses)
