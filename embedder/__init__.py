"""Echo and classical embeddings from autoregressive language models.

Importing or using it leaves the environment and thread pools of the process alone; a program that embeds calls
`tune_process()` once at start (the `ingest` and `search` commands and the UI do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from embedder.errors import ModelLoadError, ModelNotFoundError, ModelOptionError
from embedder.model_thread import tune_process
from embedder.settings import DEFAULT_MODEL
from embedder.templates import CLASSICAL, DOCUMENT, PROMPT_EOL, QUERY, SYMMETRIC, Template

if TYPE_CHECKING:
    from embedder.encoder import Embedder, EncodeResult

__all__ = [
    "CLASSICAL",
    "DEFAULT_MODEL",
    "DOCUMENT",
    "PROMPT_EOL",
    "QUERY",
    "SYMMETRIC",
    "EncodeResult",
    "Embedder",
    "ModelLoadError",
    "ModelNotFoundError",
    "ModelOptionError",
    "Template",
    "tune_process",
]


def __getattr__(name: str) -> Any:
    # Lazy: `embedder.encoder` loads torch, and `import embedder.settings` (the thin UI too) must not.
    if name in ("Embedder", "EncodeResult"):
        from embedder import encoder

        return getattr(encoder, name)
    raise AttributeError(f"module 'embedder' has no attribute {name!r}")
