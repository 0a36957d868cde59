"""The embedder's errors: a model that cannot be found or loaded, and a loading option that cannot be used.

Kept apart from `embedder.loading` so that naming them imports no torch (the commands' error map does).
"""

from __future__ import annotations


class ModelLoadError(RuntimeError):
    """The model cannot be loaded as asked; the message says which model, what is wrong and how to fix it."""


class ModelNotFoundError(ModelLoadError):
    """A model reference that resolves to nothing offline: no such folder, .gguf file, packaged model or cached id."""


class ModelOptionError(ValueError):
    """A device, dtype or quantization that cannot be used; the message names the value and the ones that can."""
