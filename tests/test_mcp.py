"""`search mcp` driven by the MCP SDK's own client over stdio, as an assistant launches it (the command docs/mcp.md
gives, with the data folder and model in its environment), over the tiny model and a real embedded store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

from search.query.searcher import Searcher
from search.service.app import ServiceSettings, create_app
from search.store import open_collection
from tests.search_helpers import DOCS, fill, free_port, running, wait_for_port

QUESTION = "how do I descale a kettle?"
READ_TOOLS = {"search", "list_sources", "read_source", "read_neighbours"}


def search_command() -> str:
    """The `search` console script of this environment."""
    return shutil.which("search", path=str(Path(sys.executable).parent)) or "search"


@pytest.fixture
def env(tmp_path: Path, tiny_model_dir: Path, tiny_embedder) -> dict[str, str]:
    """A data folder with the DOCS collection, and the environment a user's assistant config gives `search mcp`."""
    store = open_collection(path=tmp_path / "data" / "qdrant")
    try:
        fill(store, tiny_embedder)
    finally:
        store.close()
    given = {"ECHO_SEARCH_DATA": str(tmp_path / "data"), "ECHO_SEARCH_MODEL": str(tiny_model_dir),
             "ECHO_SEARCH_DTYPE": "float32", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if "PYTHONPATH" in os.environ:  # a checkout run without installing it
        given["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return given


@asynccontextmanager
async def connected(env: dict[str, str], *args: str) -> AsyncIterator[Client]:
    """The SDK's client on `search mcp ARGS` started over stdio."""
    params = StdioServerParameters(command=search_command(), args=["mcp", *args], env=env)
    async with Client(params, read_timeout_seconds=120) as client:
        yield client


def message(answer) -> str:  # noqa: ANN001 - the SDK's CallToolResult
    """A tool error's words, without the prefix the SDK puts before them ("Error executing tool NAME: ")."""
    assert answer.is_error, answer.content
    return str(answer.content[0].text).split(": ", 1)[1]


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The `search` command itself, in the same environment."""
    return subprocess.run([search_command(), *args], env={**os.environ, **env}, capture_output=True, text=True,
                          timeout=300)


async def test_tools_answer_what_the_search_command_answers(env: dict[str, str]) -> None:
    async with connected(env) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        answered = await client.call_tool("search", {"question": QUESTION, "k": 3, "mode": "echo"})
        hybrid = await client.call_tool("search", {"question": "white vinegar kettle", "k": 2})
        filtered = await client.call_tool("search", {"question": QUESTION, "mode": "echo",
                                                     "source": ["/docs/cycling.md"]})
    assert set(tools) == READ_TOOLS  # ingest only when opted in
    assert tools["search"].output_schema is not None and tools["search"].annotations.read_only_hint
    assert not answered.is_error, answered.content
    hits = answered.structured_content["hits"]
    expected = json.loads(cli(env, QUESTION, "-k", "3", "--mode", "echo", "--json").stdout)["echo"]
    assert [h["id"] for h in hits] == [h["id"] for h in expected]
    assert [h["score"] for h in hits] == pytest.approx([h["score"] for h in expected], abs=1e-5)
    top = hits[0]
    assert {top["ranking"], top["rank"], top["source"]} == {"echo", 1, expected[0]["source"]}
    text = answered.content[0].text
    assert f"[echo #1] {Path(top['source']).name}#{top['chunk_index']}" in text and top["text"] in text
    assert hybrid.structured_content["mode"] == "hybrid"
    assert [h["ranking"] for h in hybrid.structured_content["hits"]] == ["hybrid", "hybrid"]
    assert {h["source"] for h in filtered.structured_content["hits"]} == {"/docs/cycling.md"}


async def test_sources_and_documents_read_back_in_order(env: dict[str, str]) -> None:
    async with connected(env) as client:
        about = await client.call_tool("list_sources", {})
        whole = await client.call_tool("read_source", {"source": "/docs/kitchen.md"})
        paged = await client.call_tool("read_source", {"source": "/docs/kitchen.md", "count": 1})
        around = await client.call_tool("read_neighbours", {"source": "/docs/garden.md", "chunk_index": 1,
                                                            "before": 1, "after": 5})
        missing = await client.call_tool("read_source", {"source": "/docs/nowhere.md"})
    assert about.structured_content["sources"] == sorted(DOCS)
    assert about.structured_content["chunks"] == sum(len(c) for c in DOCS.values())
    assert [c["text"] for c in whole.structured_content["chunks"]] == DOCS["/docs/kitchen.md"]
    assert whole.structured_content["more_from"] is None
    assert [c["chunk_index"] for c in paged.structured_content["chunks"]] == [0]
    assert paged.structured_content["more_from"] == 1 and "first=1" in paged.content[0].text
    assert [c["text"] for c in around.structured_content["chunks"]] == DOCS["/docs/garden.md"]
    assert "list_sources" in message(missing)


async def test_errors_are_tool_errors_with_the_words_of_the_search_command(env: dict[str, str]) -> None:
    other = {**env, "ECHO_SEARCH_COLLECTION": "papers"}
    async with connected(other) as client:
        refused = await client.call_tool("search", {"question": QUESTION})
        unusable = await client.call_tool("search", {"question": "   "})
    said = cli(other, QUESTION)
    assert said.returncode == 3
    assert message(refused) in " ".join(said.stderr.split())
    assert message(refused).startswith("collection 'papers' does not exist")
    assert unusable.is_error


async def test_the_model_loads_at_the_first_question_not_at_start(env: dict[str, str]) -> None:
    broken = {**env, "ECHO_SEARCH_MODEL": str(Path(env["ECHO_SEARCH_DATA"]) / "no-such-model")}
    async with connected(broken) as client:
        listed = await client.call_tool("list_sources", {})
        words = await client.call_tool("search", {"question": "white vinegar", "mode": "bm25"})
        asked = await client.call_tool("search", {"question": QUESTION})
    assert not listed.is_error and not words.is_error  # started, listed and ranked by words with no model
    said = cli(broken, QUESTION)
    assert message(asked).startswith("cannot load model")
    assert said.returncode == 3 and message(asked) in " ".join(said.stderr.split())


async def test_a_service_holding_the_store_answers_and_the_store_is_free_between_calls(
        env: dict[str, str], tiny_embedder) -> None:
    async with connected(env) as client:
        alone = await client.call_tool("search", {"question": QUESTION, "k": 3, "mode": "both"})
        assert cli(env, "info", "--json").returncode == 0  # the server does not keep the store between calls
        store = open_collection(path=Path(env["ECHO_SEARCH_DATA"]) / "qdrant")
        port = free_port()
        app = create_app(Searcher(store=store, embedder=tiny_embedder), ServiceSettings(),
                         announce_url=f"http://127.0.0.1:{port}")
        try:
            with running(app, port):
                served = await client.call_tool("search", {"question": QUESTION, "k": 3, "mode": "both"})
                read = await client.call_tool("read_neighbours", {"source": "/docs/kitchen.md", "chunk_index": 0})
        finally:
            store.close()
    assert not served.is_error, served.content
    for ranking in ("echo", "classical"):
        ids = [[h["id"] for h in answer.structured_content["hits"] if h["ranking"] == ranking]
               for answer in (alone, served)]
        assert ids[0] == ids[1] and len(ids[0]) == 3
    assert [c["text"] for c in read.structured_content["chunks"]] == DOCS["/docs/kitchen.md"]


async def test_ingest_only_when_allowed_and_then_searchable(env: dict[str, str], tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "boat.md").write_text("# Sailing\n\nReef the mainsail early when the wind rises above twenty knots.\n")
    async with connected(env, "--allow-ingest") as client:
        names = {tool.name for tool in (await client.list_tools()).tools}
        done = await client.call_tool("ingest", {"paths": [str(notes)]})
        found = await client.call_tool("search", {"question": "reef the mainsail", "mode": "bm25", "k": 1})
        bad = await client.call_tool("ingest", {"paths": [str(tmp_path / "absent")]})
    assert names == READ_TOOLS | {"ingest"}
    assert not done.is_error, done.content
    assert done.structured_content["ok"] and done.structured_content["report"]["counts"]["added"] == 1
    assert found.structured_content["hits"][0]["source"] == str(notes / "boat.md")
    assert "absent" in message(bad)


def test_stdout_carries_only_protocol_messages(env: dict[str, str]) -> None:
    """Raw JSON-RPC on the process's pipes: every line it writes to stdout is a JSON-RPC message, the model load
    included."""
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "search",
                                                                       "arguments": {"question": QUESTION}}},
    ]
    process = subprocess.Popen([search_command(), "mcp"], env={**os.environ, **env}, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out: list[dict[str, object]] = []
    assert process.stdin is not None and process.stdout is not None
    for message in messages:
        process.stdin.write(json.dumps(message) + "\n")
        process.stdin.flush()
        if "id" in message:
            out.append(json.loads(process.stdout.readline()))  # fails on anything that is not JSON
    process.stdin.close()
    rest = process.stdout.read()
    process.wait(timeout=60)
    assert [m["id"] for m in out] == [1, 2] and all(m["jsonrpc"] == "2.0" for m in out)
    assert "hits" in out[1]["result"]["structuredContent"]  # type: ignore[index]
    assert rest.strip() == ""


async def test_streamable_http_transport(env: dict[str, str]) -> None:
    port = free_port()
    process = subprocess.Popen([search_command(), "mcp", "--transport", "http", "--port", str(port)],
                               env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, process=process)
        async with Client(f"http://127.0.0.1:{port}/mcp") as client:
            about = await client.call_tool("list_sources", {})
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert about.structured_content["sources"] == sorted(DOCS)


@pytest.mark.slow
async def test_the_packaged_model_answers_as_the_search_command(tmp_path: Path, real_embedder) -> None:
    """The real packaged model: the hybrid hits of `search mcp` are those of `search --mode hybrid --json`."""
    store = open_collection(path=tmp_path / "data" / "qdrant")
    try:
        fill(store, real_embedder)
    finally:
        store.close()
    env = {"ECHO_SEARCH_DATA": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    async with connected(env) as client:
        answered = await client.call_tool("search", {"question": QUESTION, "k": 3})
    expected = json.loads(cli(env, QUESTION, "-k", "3", "--mode", "hybrid", "--json").stdout)["hybrid"]
    hits = answered.structured_content["hits"]
    assert [h["id"] for h in hits] == [h["id"] for h in expected]
    assert hits[0]["source"] == "/docs/kitchen.md"
