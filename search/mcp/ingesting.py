"""The opt-in `ingest` tool: runs the `ingest` command itself on the paths, so that the assistant's ingest does
exactly what the user's would (the same incremental sync, the hand-over to a `search serve` that holds the store,
the same report and error words)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Annotated, Any

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult
from pydantic import BaseModel, Field

from search.mcp.library import Library
from search.mcp.tools import result
from search.settings import Settings, env_name


class IngestAnswer(BaseModel):
    """The `ingest --json` report of the run."""

    ok: bool = Field(description="Every file was handled (some may have failed otherwise: see files).")
    report: dict[str, Any]


def ingest_command(paths: list[str], settings: Settings) -> list[str]:
    """The command line that ingests `paths`: this Python's `ingest`, JSON report on stdout (and the service
    `search mcp` was told to use, when it was)."""
    service = ["--service", settings.service.url] if settings.service.url else []
    return [sys.executable, "-m", "ingest", *paths, "--json", *service]


def ingest_environment(settings: Settings) -> dict[str, str]:
    """This process's environment with the store and model of `settings` in place (flags given to `search mcp`
    included), so the run writes the collection the tools search."""
    store, section = settings.store, type(settings.store)
    values = {
        env_name(section, "collection"): store.collection,
        env_name(section, "data"): str(store.data_dir()),
        env_name(section, "qdrant_url"): store.qdrant_url or "",
        env_name(section, "qdrant_api_key"): store.qdrant_api_key or "",
        env_name(type(settings.embedder), "model"): settings.embedder.model,
    }
    return {**os.environ, **{name: value for name, value in values.items() if value}}


class IngestTool:
    """`ingest`, registered only with `search mcp --allow-ingest`."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def ingest(
        self,
        paths: Annotated[list[str], Field(min_length=1, description=(
            "Files or folders to sync into the collection (absolute paths; relative ones are taken from the folder "
            "the server was started in)."))],
    ) -> Annotated[CallToolResult, IngestAnswer]:
        """Add files and folders to the user's searchable collection, or bring them up to date (unchanged files are
        skipped, changed ones replaced, vanished ones removed). Returns the per-file report."""
        absolute = [str(Path(p).expanduser().absolute()) for p in paths]
        settings = self.library.settings
        with self.library.held():  # no call of this process opens the store while `ingest` runs
            done = subprocess.run(ingest_command(absolute, settings), env=ingest_environment(settings),
                                  stdin=subprocess.DEVNULL, capture_output=True, text=True, errors="replace")
        if done.returncode not in (0, 1):  # 1: some files failed, and the report lists them
            said = [line.removeprefix("error: ") for line in done.stderr.splitlines() if line.startswith("error: ")]
            raise ToolError("\n".join(said) or done.stderr.strip()[-2000:] or f"ingest exited with {done.returncode}")
        report = json.loads(done.stdout.strip().splitlines()[-1])
        return result(IngestAnswer(ok=done.returncode == 0, report=report), _text)


def _text(answer: IngestAnswer) -> str:
    report = answer.report
    counts = ", ".join(f"{n} {status}" for status, n in report.get("counts", {}).items() if n)
    lines = [f"ingest into collection {report.get('collection')!r}: {counts or 'nothing to do'}; "
             f"{report.get('chunks', 0)} chunk(s) embedded in {report.get('seconds', 0)} s"]
    lines += [f"failed: {f['source']}: {f.get('reason', '')}" for f in report.get("files", [])
              if f.get("status") == "failed"]
    return "\n".join(lines)
