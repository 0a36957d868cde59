"""`Embedder`: texts in, echo and classical embedding vectors out, from any causal language model."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import PreTrainedModel

from embedder import loading
from embedder.batching import plan_batches
from embedder.centering import Center, normalise
from embedder.device import default_batch_tokens, pick_device, pick_dtype, pick_quantization
from embedder.model_thread import on_model_thread
from embedder.prefix_cache import Prefix, PrefixCache
from embedder.presets import Preset, preset_for
from embedder.rerank import PASSAGE_TOKENS, LikelihoodScorer, Reranked, cannot_rerank
from embedder.settings import CPU_BATCH_TOKENS
from embedder.templates import (
    CLASSICAL,
    DEFAULT_INSTRUCTION,
    TEXT_SLOT,
    Encoded,
    PromptTokenizer,
    Template,
    template_id,
    validate_texts,
)
from embedder.window import attention_reach

Kind = Literal["document", "query", "symmetric"]
PIECE_MARGIN = 2
"""Tokens a long text's pieces stay under the echo limit, so that re-tokenizing a piece on its own (with the
space its template puts before it) never pushes it past the limit and cuts it."""
Pooling = Literal["mean", "last"]
ClassicalMode = Literal["separate", "first_span", "none"]
LongTexts = Literal["cut", "split"]


@dataclass
class EncodeResult:
    """Embeddings of a list of texts: rows are L2-normalised float32, in input order."""

    echo: np.ndarray
    classical: np.ndarray | None
    truncated: int = 0
    """How many texts were longer than the token budget and were cut to it (for echo, the budget is also bounded by
    what fits the attention window, `Embedder.echo_text_limit`, unless `long_texts="split"`)."""
    tokens: int = 0
    """Tokens the model computed, padding included (a cached prompt prefix is not computed again)."""
    padded_tokens: int = 0
    """Of those, how many were padding."""


@dataclass(frozen=True)
class _Job:
    text_index: int
    encoded: Encoded
    pools: tuple[tuple[str, int], ...]  # (output name, span index); a text's pieces add up, weighted by span length


@dataclass
class Embedder:
    """Echo and classical embeddings from a causal LM; build it with `Embedder.from_pretrained`."""

    model: PreTrainedModel
    prompt: PromptTokenizer
    model_name: str
    preset: Preset
    classical_mode: ClassicalMode = "first_span"
    classical_template: Template = CLASSICAL
    max_text_tokens: int = 512
    compute_matched: bool = False
    batch_tokens: int = CPU_BATCH_TOKENS
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    long_texts: LongTexts = "cut"
    """What happens to an echo text longer than the attention window allows (`echo_text_limit`): "cut" to it
    (counted in `truncated`), or "split" into pieces echoed on their own and pooled by tokens. "cut" was measured
    better on long passages (docs/evaluation.md)."""
    quantization: str | None = None
    """"int8" when the linear layers run as dynamically quantized int8 (`pick_quantization`), else None."""
    layer: int = -1
    """Hidden state that is pooled: 0 is the token embeddings, 1..L the output of each layer, -1 (default) the
    last layer's (after the final norm)."""
    center: Center | None = None
    load_seconds: float | None = None
    """Seconds `from_pretrained` took to load the model; None for an `Embedder` built otherwise."""
    tokens_computed: int = field(default=0, init=False)
    """Tokens the model has computed over this embedder's life: every `EncodeResult.tokens` (and `embed`'s) added up."""
    reach: int | None = field(init=False)
    """How far back every layer attends (`embedder.window.attention_reach`); None when only the context limits."""
    _prefixes: PrefixCache = field(init=False, repr=False)
    _scorer: LikelihoodScorer | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        layers = int(self.model.config.num_hidden_layers)
        if not -layers - 1 <= self.layer <= layers:
            raise ValueError(f"layer must be in {-layers - 1}..{layers} for a {layers}-layer model, got {self.layer}")
        self.reach = attention_reach(self.model.config)
        self._prefixes = PrefixCache(self.model)

    @classmethod
    def from_pretrained(
        cls,
        model: str | os.PathLike[str] | None = None,
        *,
        device: str | torch.device | None = None,
        dtype: str | torch.dtype | None = None,
        attn_implementation: str | None = None,
        pooling: Pooling | None = None,
        document_template: Template | str | None = None,
        query_template: Template | str | None = None,
        symmetric_template: Template | str | None = None,
        classical: ClassicalMode = "first_span",
        max_text_tokens: int = 512,
        compute_matched: bool = False,
        batch_tokens: int | None = None,
        allow_download: bool = False,
        cache: str | os.PathLike[str] | None = None,
        layer: int | None = None,
        center: Center | None = None,
        quantize: str | None = None,
        long_texts: LongTexts = "cut",
    ) -> Embedder:
        """Load a model: None for the packaged default, or a HF id, a local folder, or a .gguf file.

        Templates are strings with two `{text}` slots (the last is pooled); `pooling` is "mean" (zero-shot
        default) or "last". `classical` picks the classical baseline: "separate" (its own pass with
        `Write a paragraph: {text}`, fair on both sides), "first_span" (from the first `{text}` of the echo pass,
        free for documents; a query whose prompt starts differently gets a short pass of the document prompt's
        prefix and the query, so both sides see the same prefix) or "none". `compute_matched` halves the
        tokens of every `{text}` in the echo pass (each text keeps its first half), so an echo pass costs what a
        classical pass over the whole text costs. `attn_implementation` ("sdpa", "eager", ...) defaults to the
        kernel measured fastest for the device and model (`embedder.device.default_attention`). `layer` picks
        the pooled hidden state (0 = token embeddings, -1 = last layer; default: the model preset's, measured per
        packaged model); `center` subtracts corpus means
        (`fit_center`). `quantize` ("int8" or "none") defaults to `embedder.device.pick_quantization`.
        `long_texts` says what happens to an echo text longer than the model's attention window allows: "cut"
        (default) or "split" into pieces (`embedder.window`). `allow_download` lets a Hugging Face id be
        downloaded; `cache` is the model cache (default: `embedder.settings.default_cache_dir()`). Nothing is read
        from the environment: `**EmbedderSettings().load_options()` passes the settings' values.
        """
        dev = pick_device(device)
        chosen_dtype = pick_dtype(dev, dtype)
        quantization = pick_quantization(quantize)
        started = time.perf_counter()
        loaded = on_model_thread(
            loading.load,
            model,
            device=dev,
            dtype=chosen_dtype,
            attn_implementation=attn_implementation,
            allow_download=allow_download,
            quantize=quantization,
            cache=cache,
        )
        load_seconds = time.perf_counter() - started
        preset = preset_for(str(model) if model is not None else loaded.name).with_overrides(
            pooling=pooling, document=document_template, query=query_template, symmetric=symmetric_template
        )
        return cls(
            model=loaded.model,
            prompt=PromptTokenizer(loaded.tokenizer),
            model_name=loaded.name,
            preset=preset,
            classical_mode=classical,
            max_text_tokens=max_text_tokens,
            compute_matched=compute_matched,
            batch_tokens=batch_tokens or default_batch_tokens(dev),
            device=dev,
            layer=preset.layer if layer is None else layer,
            center=center,
            quantization=quantization,
            long_texts=long_texts,
            load_seconds=load_seconds,
        )

    @property
    def dim(self) -> int:
        """Size of each vector (the model's hidden size)."""
        return int(self.model.config.hidden_size)

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype

    @property
    def tokenizer(self):  # noqa: ANN201 - transformers' tokenizer type
        return self.prompt.tokenizer

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` under this model's tokenizer (what `max_text_tokens` counts)."""
        return self.prompt.count(text)

    def prompt_tokens(self, text: str, kind: Kind = "query", instruction: str = DEFAULT_INSTRUCTION) -> int:
        """Tokens of the echo prompt that `encode([text], kind, instruction=...)` runs through the model (the text
        cut to `max_text_tokens`, the instruction whole): the cost of one text, to bound before embedding it.
        Safe to call on any thread."""
        encs, _, _ = self._encode_pieces(self.template_for(kind), [text], self.max_text_tokens, instruction,
                                         self.compute_matched)
        return sum(len(enc.ids) for enc in encs)

    def text_limit(self, kind: Kind = "query", instruction: str = DEFAULT_INSTRUCTION) -> int:
        """Most tokens of one text that `encode` embeds whole as `kind`: `max_text_tokens`, or fewer where the model's
        attention reach limits an echo prompt and long texts are cut (`long_texts="cut"`)."""
        template = self.template_for(kind)
        reach = self.echo_text_limit(template, instruction) if template.is_echo and self.long_texts == "cut" else None
        return min(self.max_text_tokens, reach) if reach is not None else self.max_text_tokens

    def is_cut(self, text: str, kind: Kind = "query", instruction: str = DEFAULT_INSTRUCTION) -> bool:
        """True when `encode([text], kind, instruction=...)` embeds only part of `text` (it is over `text_limit`).
        Safe to call on any thread."""
        _, _, cut = self._encode_pieces(self.template_for(kind), [text], self.max_text_tokens, instruction,
                                        self.compute_matched)
        return cut > 0

    @property
    def layer_index(self) -> int:
        """`layer` as a non-negative index into the model's hidden states (0..num_hidden_layers)."""
        return self.layer % (int(self.model.config.num_hidden_layers) + 1)

    def echo_text_limit(self, template: Template, instruction: str = DEFAULT_INSTRUCTION) -> int | None:
        """Most text tokens an echo prompt of `template` can hold with its last pooled token still attending to
        its first copy's first token; None when the model's attention reach does not limit it."""
        if self.reach is None:
            return None
        return (self.reach - self.prompt.echo_overhead(template, instruction)) // 2

    def describe(self) -> dict[str, object]:
        """Everything that decides the vectors: recorded with a collection so mismatches can be refused."""
        return {
            "model": self.model_name,
            "dim": self.dim,
            "pooling": self.preset.pooling,
            "document_template": template_id(self.preset.document),
            "query_template": template_id(self.preset.query),
            "classical": self.classical_mode,
            "classical_template": template_id(prompt) if (prompt := self.classical_prompt("document")) else "",
            "max_text_tokens": self.max_text_tokens,
            "compute_matched": self.compute_matched,
            "echo_reach": self.reach,
            "long_texts": self.long_texts,
            "quantization": self.quantization,
            "layer": self.layer_index,
            "center": self.center.describe() if self.center else None,
        }

    @property
    def fingerprint(self) -> str:
        """A stable string naming model, templates, pooling and budget; equal fingerprints give equal vectors."""
        d = self.describe()
        digest = hashlib.sha256(repr(sorted(d.items())).encode()).hexdigest()[:12]
        echo = f"echo-{d['pooling']}" + ("-half" if self.compute_matched else "")
        last = self.layer_index == int(self.model.config.num_hidden_layers)
        extra = "" if last else f"/layer{self.layer_index}"
        extra += f"/centered-{self.center.digest}" if self.center else ""
        return (f"{d['model']}/{echo}/classical-{d['classical']}/max{self.max_text_tokens}/dim{d['dim']}{extra}/"
                f"{digest}")

    def template_for(self, kind: Kind) -> Template:
        try:
            return {"document": self.preset.document, "query": self.preset.query, "symmetric": self.preset.symmetric}[
                kind
            ]
        except KeyError:
            raise ValueError(f"kind must be 'document', 'query' or 'symmetric', got {kind!r}") from None

    def encode(
        self,
        texts: Sequence[str],
        kind: Kind = "document",
        *,
        instruction: str = DEFAULT_INSTRUCTION,
        with_classical: bool = True,
        show_progress: bool = False,
    ) -> EncodeResult:
        """Embed `texts` with the echo template of `kind` and the classical baseline, in one batched run.

        `with_classical=False` skips the classical vectors (`out.classical` is None) and their pass.
        """
        items = validate_texts(texts)
        template = self.template_for(kind)
        classical_mode = self.classical_mode if with_classical else "none"
        own_pass = self._classical_pass(kind, classical_mode)
        echo_encs, owners, truncated = self._encode_pieces(
            template, items, self.max_text_tokens, instruction, self.compute_matched
        )
        jobs: list[_Job] = []
        for i, enc in zip(owners, echo_encs, strict=True):
            pools: tuple[tuple[str, int], ...] = (("echo", len(enc.spans) - 1),)
            if classical_mode == "first_span" and own_pass is None:
                pools += (("classical", 0),)
            jobs.append(_Job(i, enc, pools))
        if own_pass is not None:
            classical_encs = self.prompt.encode_many(own_pass, items, self.max_text_tokens, instruction)
            jobs += [_Job(i, enc, (("classical", 0),)) for i, enc in enumerate(classical_encs)]
        vectors, tokens, padded = self._run(jobs, self.preset.pooling, show_progress, (self.layer,))
        out = {name: matrix[0] for name, matrix in vectors.items()}
        if self.center is not None:
            out = {name: self.center.apply(name, matrix) for name, matrix in out.items()}
        return EncodeResult(
            echo=out["echo"], classical=out.get("classical"), truncated=truncated, tokens=tokens, padded_tokens=padded
        )

    def fit_center(self, corpus: Sequence[str], kind: Kind = "document") -> Embedder:
        """A copy of this embedder that centers every vector with the mean of `corpus`'s echo and classical
        vectors (embedded as `kind`); the means enter `describe()` and the fingerprint."""
        plain = dataclasses.replace(self, center=None)
        out = plain.encode(corpus, kind=kind)
        means = {"echo": out.echo.mean(axis=0)}
        if out.classical is not None:
            means["classical"] = out.classical.mean(axis=0)
        return dataclasses.replace(self, center=Center(means))

    def embed(
        self,
        texts: Sequence[str],
        template: Template,
        *,
        pooling: Pooling = "mean",
        span: Literal["last", "first"] = "last",
        max_text_tokens: int | None = None,
        instruction: str = DEFAULT_INSTRUCTION,
        compute_matched: bool = False,
    ) -> np.ndarray:
        """Low-level: pool one span of any template (for evaluation of variants such as PromptEOL), at `layer`,
        not centered. `compute_matched` keeps the first half of each text's tokens."""
        return self.embed_layers(
            texts, template, (self.layer,), pooling=pooling, span=span, max_text_tokens=max_text_tokens,
            instruction=instruction, compute_matched=compute_matched,
        )[0]

    def embed_layers(
        self,
        texts: Sequence[str],
        template: Template,
        layers: Sequence[int],
        *,
        pooling: Pooling = "mean",
        span: Literal["last", "first"] = "last",
        max_text_tokens: int | None = None,
        instruction: str = DEFAULT_INSTRUCTION,
        compute_matched: bool = False,
    ) -> np.ndarray:
        """`embed` at several hidden states from one forward pass: shape (len(layers), len(texts), dim)."""
        items = validate_texts(texts)
        budget = max_text_tokens or self.max_text_tokens
        encs, owners, _ = self._encode_pieces(template, items, budget, instruction, compute_matched)
        jobs = [
            _Job(i, enc, (("out", 0 if span == "first" else len(enc.spans) - 1),))
            for i, enc in zip(owners, encs, strict=True)
        ]
        return self._run(jobs, pooling, False, tuple(layers))[0]["out"]

    def _encode_pieces(
        self, template: Template, texts: list[str], budget: int, instruction: str, compute_matched: bool
    ) -> tuple[list[Encoded], list[int], int]:
        """Prompts of `template` for `texts`, the texts cut to `budget` tokens (or halved). An echo text longer than
        its last pooled token can see back from (`echo_text_limit`) is cut to that limit (`long_texts="cut"`) or
        echoed in consecutive pieces within it (`"split"`). Returns the prompts, the index of the text each one
        belongs to, and how many texts were cut."""
        limit = self.echo_text_limit(template, instruction) if template.is_echo else None
        if limit is not None and limit < 1 + PIECE_MARGIN:
            raise ValueError(f"this template's echo prompt leaves no room for text within the model's attention "
                             f"reach of {self.reach} tokens")
        if limit is None or self.long_texts == "cut":
            encs = self.prompt.encode_many(template, texts, min(budget, limit or budget), instruction, compute_matched)
            return encs, list(range(len(texts))), sum(enc.truncated for enc in encs)
        split = self.prompt.split_many(texts, limit - PIECE_MARGIN, budget, compute_matched)
        whole = [n for n, (pieces, _) in enumerate(split) if len(pieces) == 1]
        whole_encs = self.prompt.encode_many(template, [texts[n] for n in whole], min(budget, limit), instruction,
                                             compute_matched)
        by_text: dict[int, list[Encoded]] = dict(zip(whole, ([e] for e in whole_encs), strict=True))
        truncated = sum(enc.truncated for enc in whole_encs)
        parts = [(n, piece) for n, (pieces, _) in enumerate(split) if len(pieces) > 1 for piece in pieces]
        part_encs = self.prompt.encode_many(template, [p for _, p in parts], limit, instruction)
        for (n, _), enc in zip(parts, part_encs, strict=True):
            by_text.setdefault(n, []).append(enc)
        truncated += sum(cut for pieces, cut in split if len(pieces) > 1)
        owners = [n for n in range(len(texts)) for _ in by_text[n]]
        return [enc for n in range(len(texts)) for enc in by_text[n]], owners, truncated

    @property
    def rerank_refusal(self) -> str | None:
        """Why this model cannot `rerank` (its LM head is not its input embeddings), or None when it can."""
        return cannot_rerank(self.model)

    def rerank(self, question: str, passages: Sequence[str], *, passage_tokens: int = PASSAGE_TOKENS) -> Reranked:
        """Score `passages` for `question` by query likelihood (`embedder.rerank`): the mean log-probability of the
        question's tokens after each passage (cut to `passage_tokens` tokens), from the full depth of this model
        whatever `layer` it pools; higher is better. The passages go through one forward when they fit
        `batch_tokens`. `ModelOptionError` for a model that cannot (`rerank_refusal`)."""
        texts = validate_texts([question, *passages])
        if self._scorer is None:
            self._scorer = LikelihoodScorer(self.model, self.prompt)
        out = on_model_thread(self._scorer.score, texts[0], texts[1:], passage_tokens, self.batch_tokens)
        self.tokens_computed += out.tokens
        return out

    def classical_prompt(self, kind: Kind) -> Template | None:
        """The one-copy prompt whose pooled `{text}` is the classical vector of a text of `kind`, or None without
        classical vectors: `classical_template` ("separate"); for "first_span", the prompt up to the first `{text}`
        of the echo template, which is what that first copy saw (causal attention), except that a query takes the
        document prompt's prefix, so that queries and documents see the same one."""
        if self.classical_mode == "separate":
            return self.classical_template
        if self.classical_mode == "none":
            return None
        template = self.preset.document if kind == "query" else self.template_for(kind)
        return Template(template.prefix() + TEXT_SLOT)

    def _classical_pass(self, kind: Kind, mode: ClassicalMode) -> Template | None:
        """The prompt of the classical vectors' own pass for texts of `kind`, or None when they need none: mode
        "separate" always runs one; mode "first_span" pools the first copy of the echo pass (free), except for a
        query whose echo prompt starts differently from a document's: it gets a short pass under the document
        prompt's prefix (`classical_prompt`)."""
        if mode == "separate" or (mode == "first_span" and kind == "query"
                                  and self.preset.query.prefix() != self.preset.document.prefix()):
            return self.classical_prompt(kind)
        return None

    def _run(
        self, jobs: list[_Job], pooling: Pooling, show_progress: bool, layers: tuple[int, ...]
    ) -> tuple[dict[str, np.ndarray], int, int]:
        """Pooled vectors of every output name, shape (len(layers), texts, dim), L2-normalised; the pieces of one
        text add up weighted by their pooled tokens. Also the computed and the padding tokens."""
        n_texts = 1 + max((j.text_index for j in jobs), default=-1)
        outputs: dict[str, np.ndarray] = {}
        for job in jobs:
            for name, _ in job.pools:
                outputs.setdefault(name, np.zeros((len(layers), n_texts, self.dim), dtype=np.float32))
        by_prefix: dict[Prefix, list[_Job]] = {}
        for job in jobs:
            by_prefix.setdefault(self._prefixes.prefix_of(job.encoded), []).append(job)
        batches = []
        for prefix, group in by_prefix.items():
            lengths = [len(j.encoded.ids) - len(prefix) for j in group]
            batches += [(prefix, [group[i] for i in b]) for b in plan_batches(lengths, self.batch_tokens)]
        tokens = padded = 0
        for prefix, batch in tqdm(batches, desc="embedding", unit="batch", disable=not show_progress):
            width = max(len(job.encoded.ids) for job in batch)
            tokens += (width - len(prefix)) * len(batch)
            padded += sum(width - len(job.encoded.ids) for job in batch)
            pooled = on_model_thread(self._pool_batch, batch, prefix, pooling, layers)
            for job, vectors in zip(batch, pooled, strict=True):
                for (name, span_index), vector in zip(job.pools, vectors, strict=True):
                    start, end = job.encoded.spans[span_index]
                    outputs[name][:, job.text_index] += (end - start) * vector
        self.tokens_computed += tokens
        return {name: normalise(matrix) for name, matrix in outputs.items()}, tokens, padded

    @torch.inference_mode()
    def _pool_batch(
        self, jobs: list[_Job], prefix: Prefix, pooling: Pooling, layers: tuple[int, ...]
    ) -> list[list[np.ndarray]]:
        """One forward pass over `jobs` (their tokens after `prefix`, right-padded); for each job, the pooled
        vector of each of its pools, shape (len(layers), dim)."""
        skip = len(prefix)
        width = max(len(job.encoded.ids) for job in jobs) - skip
        pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        ids = torch.full((len(jobs), width), pad_id, dtype=torch.long)
        for row, job in enumerate(jobs):
            ids[row, : len(job.encoded.ids) - skip] = torch.tensor(job.encoded.ids[skip:])
        # Right padding under a causal mask: real tokens never attend to the pads after them, so no padding
        # mask is needed, and attention takes the fast pure-causal kernel (about 20% faster on CPU).
        hidden = self._prefixes.forward(ids.to(self.device), prefix, layers)
        # Every pooled span as one row of weights over its batch row's positions, so that all of them come out
        # of one batched matrix product and one device-to-host copy (a copy per span stalls a GPU per span).
        slots = max(len(job.pools) for job in jobs)
        weights = torch.zeros((len(jobs), slots, width), dtype=torch.float32)
        for row, job in enumerate(jobs):
            for slot, (_, span_index) in enumerate(job.pools):
                start, end = (i - skip for i in job.encoded.spans[span_index])
                if pooling == "last":
                    start = end - 1
                weights[row, slot, start:end] = 1.0 / (end - start)
        pooled = torch.einsum("rsw,lrwh->rslh", weights.to(self.device), hidden.float()).cpu().numpy()
        return [[pooled[row, slot] for slot in range(len(job.pools))] for row, job in enumerate(jobs)]
