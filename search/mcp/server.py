"""`search mcp`: the MCP server (the official `mcp` SDK's `MCPServer`) over the collection of the settings, on stdio
(what an assistant launches) or streamable HTTP."""

from __future__ import annotations

from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp_types import ToolAnnotations

from search.mcp.library import Library
from search.mcp.tools import Tools
from search.settings import Settings

Transport = Literal["stdio", "http"]

INSTRUCTIONS = (
    "Searches the user's own documents (files they ingested with echo-search). Call `search` with a question; "
    "cite each hit by its source path and chunk number. `read_neighbours` gives a hit's context, `read_source` a "
    "whole document, `list_sources` what the collection holds."
)


def create_server(settings: Settings, allow_ingest: bool = False) -> MCPServer:
    """The server and its tools; nothing is opened or loaded until a tool is called. `allow_ingest` adds the
    `ingest` tool (the assistant may then write to the collection)."""
    from importlib.metadata import version

    server: MCPServer = MCPServer("echo-search", instructions=INSTRUCTIONS, version=version("echo-search"))
    tools = Tools(Library(settings))
    reads = ToolAnnotations(read_only_hint=True, open_world_hint=False)
    server.add_tool(tools.search, name="search", title="Search the documents", annotations=reads)
    server.add_tool(tools.list_sources, name="list_sources", title="What the collection holds", annotations=reads)
    server.add_tool(tools.read_source, name="read_source", title="Read a source document", annotations=reads)
    server.add_tool(tools.read_neighbours, name="read_neighbours", title="Read a chunk's context",
                    annotations=reads)
    if allow_ingest:
        from search.mcp.ingesting import IngestTool

        writes = ToolAnnotations(read_only_hint=False, destructive_hint=True, idempotent_hint=True,
                                 open_world_hint=False)
        server.add_tool(IngestTool(tools.library).ingest, name="ingest", title="Ingest files", annotations=writes)
    return server


def serve(settings: Settings, transport: Transport = "stdio", host: str = "127.0.0.1", port: int = 8765,
          allow_ingest: bool = False) -> None:
    """Run the server until its input ends (stdio) or it is stopped (HTTP, at `http://host:port/mcp`)."""
    server = create_server(settings, allow_ingest)
    if transport == "stdio":
        server.run("stdio")
    else:
        server.run("streamable-http", host=host, port=port)
