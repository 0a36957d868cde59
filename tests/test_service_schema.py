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

from search.searcher import Searcher
from search.service import ServiceSettings, create_app
from search.store import Collection
from tests.search_helpers import fill, running

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory, tiny_embedder) -> Iterator[schemathesis.BaseSchema]:
    store = Collection.open(path=tmp_path_factory.mktemp("schema") / "qdrant")
    fill(store, tiny_embedder)
    # a small token budget, so that generated long queries also meet the 422 refusal
    settings_ = ServiceSettings(max_query_tokens=400)
    try:
        with running(create_app(Searcher(store=store, embedder=tiny_embedder), settings_)) as url:
            yield schemathesis.openapi.from_url(f"{url}/openapi.json")
    finally:
        store.close()


@pytest.mark.parametrize("mode", list(GenerationMode))
def test_the_service_keeps_to_its_openapi_document(api_schema: schemathesis.BaseSchema, mode: GenerationMode) -> None:
    """Valid requests (positive) and requests that break the schema (negative) against every operation."""
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert {op.path for op in operations} == {"/search", "/health", "/collection"}
    statuses: set[int] = set()
    for operation in operations:
        if mode == GenerationMode.NEGATIVE and operation.method.upper() == "GET":
            continue  # nothing in a parameterless GET can break the schema

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case: schemathesis.Case) -> None:
            statuses.add(case.call_and_validate(checks=CHECKS).status_code)

        check()
    assert (200 in statuses) if mode == GenerationMode.POSITIVE else (422 in statuses)
