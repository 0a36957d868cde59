"""The UI as a thin client of the HTTP query service (SEARCH_URL), and the `search-ui` launcher."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from search.query.searcher import Searcher
from search.service.app import create_app
from search.store import open_collection
from tests.search_helpers import free_port, running
from tests.ui_fixtures import (  # noqa: F401 - fixtures
    CLASSICAL_MARKERS,
    ECHO_MARKERS,
    QUERY,
    K,
    ask,
    built_fixture,
    column_titled,
    markers_by_source,
    run_app,
    ui_env_fixture,
)
from ui import launch


@pytest.fixture
def service(built: Path, tiny_embedder, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The query service over the constructed collection, and the app pointed at it by SEARCH_URL."""
    store = open_collection(path=built / "qdrant", collection="ui-test")
    try:
        with running(create_app(Searcher(store=store, embedder=tiny_embedder))) as url:
            monkeypatch.setenv("SEARCH_URL", url)
            yield url
    finally:
        store.close()


def test_results_through_the_service(service: str) -> None:
    at = run_app()
    assert not at.error, at.error
    assert "Uploads are off" in at.sidebar.info[0].value
    assert any(service in c.value for c in at.sidebar.caption)
    ask(at)
    echo = markers_by_source(column_titled(at, "Echo"))
    classical = markers_by_source(column_titled(at, "Classical"))
    for shown, expected in ((echo, ECHO_MARKERS), (classical, CLASSICAL_MARKERS)):
        assert list(shown) == list(expected)
        for source, marker in expected.items():
            assert marker in shown[source]


def test_unreachable_service_is_an_error_message(ui_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_URL", f"http://127.0.0.1:{free_port()}")
    at = run_app()
    assert len(at.error) == 1
    assert "cannot reach the search service" in at.error[0].value and "search serve" in at.error[0].value


def test_launcher_command_and_environment() -> None:
    cmd = launch.streamlit_command(port=8765, address="127.0.0.1", headless=True)
    assert cmd[1:4] == ["-m", "streamlit", "run"] and Path(cmd[4]) == Path(launch.__file__).with_name("app.py")
    assert cmd[cmd.index("--server.port") + 1] == "8765" and cmd[cmd.index("--server.headless") + 1] == "true"
    env = launch.app_environment(collection="papers", search_url="http://svc:8000")
    assert env["ECHO_SEARCH_COLLECTION"] == "papers" and env["SEARCH_URL"] == "http://svc:8000"
