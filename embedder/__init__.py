"""Echo and classical embeddings from autoregressive language models.

Importing or using it leaves the environment and thread pools of the process alone; a program that embeds calls
`tune_process()` once at start (the `ingest` and `search` commands and the UI do).
"""

from embedder.encoder import Embedder, EncodeResult
from embedder.loading import DEFAULT_MODEL, ModelNotFoundError
from embedder.model_thread import tune_process
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
    "ModelNotFoundError",
    "Template",
    "tune_process",
]
