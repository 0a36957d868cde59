"""Embedding requests (`POST /v1/embeddings`) on the query service's one model thread, within its batch limits."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial

import numpy as np

from embedder import Embedder
from embedder.encoder import EncodeResult, Kind
from search.service.batching import MicroBatcher
from search.service.metrics import ServiceMetrics


@dataclass
class Embedded:
    """The vectors of a request's texts, in their order, and the tokens the model computed for them."""

    vectors: np.ndarray
    tokens: int


class EmbeddingRunner:
    """Embeds a request's texts on the batcher's worker thread (the model and the embedded store are used from that
    thread only), in forwards bounded like the searches' micro-batches: at most `max_batch` texts and
    `batch_tokens` prompt tokens each (a heavier text goes alone), texts of similar cost together.

    A request's texts already form a batch, so requests are not merged: each forward is queued on the worker thread
    on its own, and searches that arrive meanwhile run between the forwards of a long request. Requests are admitted
    by the batcher's gate (`search.service.admission`), counted with the searches waiting until they are answered;
    one more than `max_queue` gets `QueueFullError` (503). A request whose client has gone is cancelled: its
    forwards still queued are dropped.
    """

    def __init__(self, batcher: MicroBatcher, embedder: Embedder, metrics: ServiceMetrics) -> None:
        self.batcher = batcher
        self.embedder = embedder
        self.metrics = metrics

    def chunks(self, costs: list[int]) -> Iterator[list[int]]:
        """Indices of the texts of each forward, cheapest first (`costs`: prompt tokens of each text)."""
        chunk: list[int] = []
        tokens = 0
        for i in sorted(range(len(costs)), key=costs.__getitem__):
            if chunk and (len(chunk) == self.batcher.max_batch or tokens + costs[i] > self.batcher.batch_tokens):
                yield chunk
                chunk, tokens = [], 0
            chunk.append(i)
            tokens += costs[i]
        if chunk:
            yield chunk

    def _encode(self, texts: list[str], kind: Kind, classical: bool) -> tuple[EncodeResult, float, float]:
        """On the worker thread: the vectors, when the forward started and how long it took."""
        started = time.perf_counter()
        result = self.embedder.encode(texts, kind=kind, with_classical=classical)
        return result, started, time.perf_counter() - started

    async def embed(self, texts: list[str], costs: list[int], kind: Kind, classical: bool,
                    arrived: float) -> Embedded:
        """Echo vectors of `texts` embedded as `kind` (or, with `classical`, their classical ones). `arrived`: the
        request's `time.perf_counter()`. Cancelled (the client went away: `search.service.disconnect.unless_gone`), the
        forwards still queued on the worker thread are dropped."""
        with self.batcher.admission.request():
            vectors = np.empty((len(texts), self.embedder.dim), dtype=np.float32)
            tokens = 0
            for n, chunk in enumerate(self.chunks(costs)):
                result, started, seconds = await self.batcher.run(
                    partial(self._encode, [texts[i] for i in chunk], kind, classical))
                if n == 0:
                    self.metrics.embeddings_queued(started - arrived)
                self.metrics.embeddings_forward(len(chunk), seconds)
                self.batcher.admission.forward_seconds = seconds
                out = result.classical if classical else result.echo
                assert out is not None  # a classical model is only served by an embedder that computes them
                vectors[chunk] = out
                tokens += result.tokens
            return Embedded(vectors, tokens)
