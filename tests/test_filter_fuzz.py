"""Filters the API accepts never get a 5xx: every value no store can take is refused where the filter enters
(`QueryFilter.parse`) with a 422 naming the clause; generated filters (hypothesis) thrown at `/search` and at
`Searcher` meet only the product's own errors.

A real service (FastAPI's TestClient) over the tiny model and a real embedded store.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search.errors import ExitCode, verdict
from search.query.request import SearchQuery
from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.store import open_collection
from tests.search_helpers import fill

FUZZ = settings(max_examples=200, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def searcher(tmp_path_factory: pytest.TempPathFactory, tiny_embedder) -> Iterator[Searcher]:
    store = open_collection(path=tmp_path_factory.mktemp("fuzz") / "qdrant")
    fill(store, tiny_embedder)
    with Searcher(store=store, embedder=tiny_embedder) as opened:
        yield opened


@pytest.fixture(scope="module")
def client(searcher: Searcher) -> Iterator[TestClient]:
    with TestClient(create_app(searcher, ServiceSettings(cache_size=0))) as test_client:
        yield test_client


def _search(client: TestClient, flt: Any, mode: str = "hybrid") -> Any:
    """POST /search with `flt`, as JSON that may hold NaN and Infinity (Python's parser, and so the service's,
    reads them)."""
    body = json.dumps({"query": "how do I descale the kettle?", "k": 3, "mode": mode, "filter": flt})
    return client.post("/search", content=body, headers={"content-type": "application/json"})


BIG = 2**70


def _nested(depth: int) -> dict[str, Any]:
    flt: dict[str, Any] = {"is_empty": {"key": "title"}}
    for _ in range(depth):
        flt = {"must": [flt]}
    return flt

ONCE_500 = {
    "key ''": ({"must": [{"key": "", "match": {"value": "x"}}]}, "filter.must[0].key"),
    "key 'a..b'": ({"must": [{"key": "a..b", "match": {"value": "x"}}]}, "filter.must[0].key"),
    "key 'source['": ({"should": [{"key": "source[", "match": {"value": "x"}}]}, "filter.should[0].key"),
    "has_id 2**70": ({"must": [{"has_id": [BIG]}]}, "filter.must[0].has_id"),
    "match 2**70": ({"must": [{"key": "page", "match": {"value": BIG}}]}, "filter.must[0].match"),
    "except 2**70": ({"must_not": [{"key": "page", "match": {"except": [BIG]}}]}, "filter.must_not[0].match"),
    "values_count lt 1e30": ({"must": [{"key": "source", "values_count": {"lt": 10**30}}]},
                             "filter.must[0].values_count.lt"),
    "min_count -1": ({"min_should": {"conditions": [{"is_empty": {"key": "title"}}], "min_count": -1}},
                     "filter.min_should.min_count"),
    "min_count 1e30": ({"min_should": {"conditions": [{"is_empty": {"key": "title"}}], "min_count": 10**30}},
                       "filter.min_should.min_count"),
    "is_empty key ''": ({"must": [{"is_empty": {"key": ""}}]}, "filter.must[0].is_empty.key"),
    "nested key ''": ({"must": [{"nested": {"key": "", "filter": {"must": [{"is_null": {"key": "a"}}]}}}]},
                      "filter.must[0].nested.key"),
    "a lone surrogate": ({"must": [{"key": "source", "match": {"value": "\ud800"}}]}, "not valid Unicode"),
    "nested too deep": (_nested(40), "nested more than"),
}
"""Filters the schema accepts that once got a 500 from the engine (or would crash its parser)."""


@pytest.mark.parametrize("flt,clause", ONCE_500.values(), ids=ONCE_500.keys())
def test_a_filter_no_store_can_take_gets_422_naming_the_clause(client: TestClient, flt: Any, clause: str) -> None:
    response = _search(client, flt)
    assert response.status_code == 422, response.text
    assert clause in response.json()["detail"], response.text


def test_valid_payload_paths_still_filter(client: TestClient) -> None:
    for key in ("source", "meta.author", "tags[]", "items[0].name", '"a.b"', "chunk_index"):
        response = _search(client, {"must_not": [{"key": key, "match": {"value": "nothing"}}]})
        assert response.status_code == 200, (key, response.text)
    one = _search(client, {"must": [{"key": "source", "match": {"value": "/docs/kitchen.md"}}]}, mode="bm25")
    assert {hit["source"] for hit in one.json()["bm25"]} == {"/docs/kitchen.md"}


# -- generated filters --------------------------------------------------------------------------------------------
KEYS = st.one_of(
    st.sampled_from(["source", "chunk_index", "text", "title", "page", "n_chunks", "meta.author", "tags[]",
                     "items[0].name", '"a.b"', "é", "", "a..b", "source[", "a.", ".a", "[]", "a b", "a[-1]", "a]"]),
    st.text(max_size=6),
)
INTS = st.one_of(st.integers(-3, 12), st.integers(), st.sampled_from(
    [2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64 - 1, 2**64, BIG, -BIG, 10**30]))
NUMBERS = st.one_of(INTS, st.floats(), st.sampled_from([1e30, -1e30, 1e308]))
STRINGS = st.one_of(st.text(max_size=8), st.sampled_from(["/docs/kitchen.md", "kettle", ""]))
VALUES = st.one_of(STRINGS, INTS, st.booleans())
DATES = st.sampled_from(["2020-01-01T00:00:00Z", "0001-01-01T00:00:00", "9999-12-31T23:59:59+14:00", "2024-02-29"])
MATCHES = st.one_of(
    st.builds(lambda v: {"value": v}, VALUES),
    st.builds(lambda v: {"any": v}, st.one_of(st.lists(STRINGS, max_size=3), st.lists(INTS, max_size=3))),
    st.builds(lambda v: {"except": v}, st.one_of(st.lists(STRINGS, max_size=3), st.lists(INTS, max_size=3))),
    st.builds(lambda v: {"text": v}, STRINGS),
    st.builds(lambda v: {"text_any": v}, STRINGS),
    st.builds(lambda v: {"phrase": v}, STRINGS),
)
BOUNDS = st.sampled_from(["gt", "gte", "lt", "lte"])
POINT_IDS = st.one_of(INTS, st.uuids().map(str), st.text(max_size=6))
LEAVES = st.one_of(
    st.builds(lambda k, m: {"key": k, "match": m}, KEYS, MATCHES),
    st.builds(lambda k, r: {"key": k, "range": r}, KEYS, st.one_of(st.dictionaries(BOUNDS, NUMBERS, max_size=2),
                                                                   st.dictionaries(BOUNDS, DATES, max_size=2))),
    st.builds(lambda k, c: {"key": k, "values_count": c}, KEYS, st.dictionaries(BOUNDS, INTS, max_size=2)),
    st.builds(lambda k: {"is_empty": {"key": k}}, KEYS),
    st.builds(lambda k: {"is_null": {"key": k}}, KEYS),
    st.builds(lambda ids: {"has_id": ids}, st.lists(POINT_IDS, max_size=3)),
    st.builds(lambda v: {"has_vector": v}, st.one_of(st.sampled_from(["echo", "classical", "bm25"]), STRINGS)),
)


def _filters(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    conditions = st.one_of(st.lists(children, max_size=3), children)
    min_should = st.builds(lambda c, n: {"conditions": c, "min_count": n}, st.lists(children, max_size=3), INTS)
    plain = st.fixed_dictionaries({}, optional={"must": conditions, "should": conditions, "must_not": conditions,
                                                "min_should": min_should})
    nested = st.builds(lambda k, f: {"nested": {"key": k, "filter": f}}, KEYS, plain)
    return st.one_of(plain, nested)


CONDITIONS = st.recursive(LEAVES, _filters, max_leaves=8)
FILTERS = _filters(CONDITIONS).filter(lambda f: "nested" not in f)
MODES = st.sampled_from(["hybrid", "bm25", "echo", "both"])


@FUZZ
@given(flt=FILTERS, mode=MODES)
def test_generated_filters_never_get_a_server_error(client: TestClient, flt: Any, mode: str) -> None:
    response = _search(client, flt, mode)
    assert response.status_code in (200, 422), (response.status_code, response.text, flt)


@FUZZ
@given(flt=FILTERS, mode=MODES)
def test_generated_filters_meet_only_the_products_errors_in_the_searcher(searcher: Searcher, flt: Any,
                                                                         mode: str) -> None:
    try:
        searcher.search(SearchQuery("where is the kettle?", k=3, mode=mode, filter=flt))  # type: ignore[arg-type]
    except Exception as exc:  # the product's own refusal: a rule of the error map, never "a bug"
        found = verdict(exc)
        assert found is not None and found.exit_code == ExitCode.USAGE, (repr(exc), flt)


def test_the_uuid_and_integer_point_ids_pass(client: TestClient) -> None:
    response = _search(client, {"must_not": [{"has_id": [str(uuid.uuid4()), 0, 2**64 - 1]}]})
    assert response.status_code == 200, response.text
