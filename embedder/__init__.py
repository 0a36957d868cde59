"""Echo and classical embeddings from autoregressive language models."""

from embedder.encoder import Embedder, EncodeResult
from embedder.loading import DEFAULT_MODEL, ModelNotFoundError
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
]
