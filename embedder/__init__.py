"""Echo and classical embeddings from autoregressive language models.

Importing or using it leaves the environment and thread pools of the process alone; a program that embeds calls
`tune_process()` once at start (the `ingest` and `search` commands and the UI do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from embedder.encoder import Embedder, EncodeResult
    from embedder.errors import ModelLoadError, ModelNotFoundError, ModelOptionError
    from embedder.model_thread import tune_process
    from embedder.settings import DEFAULT_MODEL
    from embedder.templates import CLASSICAL, DOCUMENT, PROMPT_EOL, QUERY, SYMMETRIC, Template

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

_HOMES = {
    "Embedder": "encoder", "EncodeResult": "encoder", "ModelNotFoundError": "errors", "DEFAULT_MODEL": "settings",
    "tune_process": "model_thread", "ModelLoadError": "errors", "ModelOptionError": "errors",
    **dict.fromkeys(("CLASSICAL", "DOCUMENT", "PROMPT_EOL", "QUERY", "SYMMETRIC", "Template"), "templates"),
}


def __getattr__(name: str) -> Any:
    # Lazy, so that `embedder.settings` (read by every entry point, the UI's HTTP mode included) loads no torch.
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"embedder.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'embedder' has no attribute {name!r}")
