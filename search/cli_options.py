"""Command-line options shared by `ingest`, `search` and `search eval`: which store, collection and model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

Collection = Annotated[
    str | None, typer.Option("--collection", envvar="ECHO_SEARCH_COLLECTION", help="Collection name (default: docs).")
]
QdrantUrl = Annotated[
    str | None, typer.Option("--qdrant-url", envvar="QDRANT_URL", help="Qdrant server URL (else the embedded store).")
]
QdrantKey = Annotated[str | None, typer.Option("--qdrant-api-key", envvar="QDRANT_API_KEY", help="Qdrant API key.")]
DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", envvar="ECHO_SEARCH_DATA",
                 help="Data folder of the embedded store (default: ~/.local/share/echo-search)."),
]
Model = Annotated[
    str | None,
    typer.Option("--model", envvar="ECHO_SEARCH_MODEL",
                 help="Model: packaged name, HF id, folder or .gguf file (default: gemma-3-270m)."),
]
