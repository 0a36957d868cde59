"""LangChain `Embeddings` backed by an `Embedder`: echo (or classical) vectors for any LangChain vector store."""

from __future__ import annotations

import threading
import warnings
from typing import Literal

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, InstanceOf, PrivateAttr, model_validator

from embedder.encoder import Embedder, Kind
from embedder.settings import EmbedderSettings
from embedder.templates import DEFAULT_INSTRUCTION

Vector = Literal["echo", "classical"]


class EchoEmbeddings(BaseModel, Embeddings):
    """Echo embeddings for LangChain: documents use the document template, queries the instructed query template.

    The model loads on first use (construction is cheap), once per instance; pass `embedder=` to share a loaded
    `Embedder` with other code instead. `vector="classical"` gives the classical baseline of the same model.
    The async methods (inherited) run the model in a worker thread, so they do not block the event loop.
    A call with texts longer than the model's token budget embeds their beginning and warns once (`UserWarning`)
    with how many were cut.

    An `EchoEmbeddings` is a program's entry point: built without `settings=` (and without `embedder=`), it reads
    the `ECHO_SEARCH_*` environment once, when it is built, for what its arguments leave open (the model, device,
    dtype, batch tokens, cache, quantization, layer, downloads); its own arguments win over those.

    Example:
        >>> from embedder.langchain import EchoEmbeddings
        >>> embeddings = EchoEmbeddings()  # packaged Gemma-3-270M, loaded on the first call
        >>> vector = embeddings.embed_query("How do echo embeddings work?")
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    model: str | None = None
    """None for the settings' model (`$ECHO_SEARCH_MODEL`, else the packaged default); else a packaged name, a HF
    id, a folder or a .gguf."""
    device: str | None = None
    """"cpu", "cuda", "mps", ...; None picks the best available (or `$ECHO_SEARCH_DEVICE`)."""
    dtype: str | None = None
    """"float32", "bfloat16", "float16"; None picks one for the device (or `$ECHO_SEARCH_DTYPE`)."""
    instruction: str = DEFAULT_INSTRUCTION
    """The task instruction of the query template (what the questions are for)."""
    vector: Vector = "echo"
    """Which vector to return: "echo" or the "classical" baseline."""
    batch_tokens: int | None = Field(default=None, gt=0)
    """Token budget of one forward batch (padding included); None for the device default."""
    embedder: InstanceOf[Embedder] | None = Field(default=None, exclude=True, repr=False)
    """An already loaded `Embedder` to use instead of loading `model` (then leave model/device/dtype/batch_tokens/
    settings)."""
    settings: InstanceOf[EmbedderSettings] | None = Field(default=None, exclude=True, repr=False)
    """The loading options the arguments above leave open; None: `EmbedderSettings()`, read from the environment
    when this object is built."""

    _loaded: Embedder | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @model_validator(mode="after")
    def _embedder_or_loading_args(self) -> EchoEmbeddings:
        given = [name for name in ("model", "device", "dtype", "batch_tokens", "settings")
                 if getattr(self, name) is not None]
        if self.embedder is not None and given:
            raise ValueError(f"pass either embedder= or {', '.join(given)}, not both: the embedder is already loaded")
        if self.embedder is None and self.settings is None:
            self.settings = EmbedderSettings()  # the entry point's one read of the environment
        return self

    def get_embedder(self) -> Embedder:
        """The `Embedder` in use, loading it on the first call (thread-safe)."""
        if self.embedder is not None:
            return self.embedder
        with self._lock:
            if self._loaded is None:
                assert self.settings is not None  # set when built without an embedder
                settings = self.settings.override(
                    model=self.model, device=self.device, dtype=self.dtype, batch_tokens=self.batch_tokens)
                options = settings.load_options()
                if self.vector == "echo":
                    options["classical"] = "none"  # skip the classical pass nobody reads
                self._loaded = Embedder.from_pretrained(**options)
            return self._loaded

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents with the document template; an empty list gives an empty list."""
        return self._vectors(texts, "document").tolist() if texts else []

    def embed_query(self, text: str) -> list[float]:
        """Embed a query with the instructed query template."""
        return self._vectors([text], "query")[0].tolist()

    def _vectors(self, texts: list[str], kind: Kind) -> np.ndarray:
        emb = self.get_embedder()
        own_pass = emb.classical_prompt(kind) if self.vector == "classical" else None
        if own_pass is not None and (emb.classical_mode == "separate" or kind == "query"):
            # Only the classical pass, exactly as `encode` computes it (a query's first-span vector is its own short
            # pass too); a document's first-span vector needs its echo pass.
            matrix = emb.embed(texts, own_pass, pooling=emb.preset.pooling)
            truncated = sum(emb.count_tokens(text) > emb.max_text_tokens for text in texts)
        else:
            result = emb.encode(texts, kind=kind, instruction=self.instruction)
            classical_or_echo = result.echo if self.vector == "echo" else result.classical
            if classical_or_echo is None:
                raise ValueError("this embedder was loaded with classical='none': it has no classical vectors")
            matrix, truncated = classical_or_echo, result.truncated
        if truncated:
            warnings.warn(
                f"{truncated} of {len(texts)} text(s) were longer than the model's budget of {emb.max_text_tokens} "
                f"tokens and were cut to it: their vectors ignore the rest. Split long texts first (for example "
                "with a LangChain text splitter).",
                stacklevel=3,
            )
        return matrix
