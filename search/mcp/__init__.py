"""`search mcp`: an MCP (Model Context Protocol) server over the collection, for assistants.

`search.mcp.server.create_server` builds it on the official `mcp` SDK; `search.mcp.tools` holds the tools,
`search.mcp.library` how they reach the collection (through the service that holds the store, like the `search`
command), `search.mcp.answers` what they answer, `search.mcp.ingesting` the opt-in `ingest` tool.
"""
