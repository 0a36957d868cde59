"""Query-likelihood reranking with the embedder's own causal LM (Sachan et al. 2022, "Improving Passage Retrieval
with Zero-Shot Question Generation", UPR).

A passage is scored by how likely the model finds the question after it: the mean log-probability of the question's
tokens under `<bos>Passage: {passage}\\nPlease write a question based on this passage.\\nQuestion: {question}`, no
training. The model is the embedder's base model (loaded without an LM head): the scorer runs it through every layer
and the final norm (whatever layer the embedder pools), then applies the tied input embedding matrix as the head,
only at the positions that predict a question token. Gemma's vocabulary has 262,144 entries: a head over every
passage token would cost more than the passages themselves.

Ids are built as echo's are (`embedder.templates.PromptTokenizer`): the pieces tokenized separately, the special
prefix from `tokenizer("")`, so the question's span is exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import numpy as np
import torch
from transformers import PreTrainedModel

from embedder.batching import plan_batches
from embedder.errors import ModelOptionError
from embedder.settings import RERANK_PASSAGE_TOKENS
from embedder.templates import PromptTokenizer

PASSAGE_PROMPT = "Passage: {passage}\nPlease write a question based on this passage.\nQuestion: {question}"
"""The scored prompt: the question last, a space before each slot (it joins the slot's first word)."""
PASSAGE_TOKENS = RERANK_PASSAGE_TOKENS
"""Passage tokens kept by default (measured on the dev sets, docs/evaluation.md)."""
QUESTION_TOKENS = 128
"""Question tokens scored at most; a longer question is cut."""
HEAD_SLICE = 4096
"""Vocabulary rows per product of the head on a CPU. Measured (`bench/rerank.py`, 2-core AVX2, fp32): Gemma's
262,144 rows at 150 question positions take 630 ms in one product and log-softmax, 400-520 ms in slices of 4,096."""


@dataclass(frozen=True)
class Pair:
    """The ids of one (passage, question) prompt and the [start, end) span of the question's tokens."""

    ids: list[int]
    start: int
    end: int
    truncated: bool
    """The passage was longer than the passage budget and was cut."""


@dataclass
class Reranked:
    """Scores of passages for one question, in the passages' order."""

    scores: np.ndarray
    """Mean log P(question token | passage prompt, question so far), float64, at most 0; higher is better."""
    tokens: int
    """Tokens the model computed, padding included."""
    truncated: int
    """Passages cut to the passage budget."""


def cannot_rerank(model: PreTrainedModel) -> str | None:
    """Why `model` cannot score by query likelihood, or None when it can (its LM head is its input embeddings)."""
    if getattr(model.config, "tie_word_embeddings", False):
        return None
    return (f"this {model.config.model_type} model cannot rerank: its LM head is not tied to its input embeddings, "
            "and the embedder loads no head")


class LikelihoodScorer:
    """Scores (question, passage) pairs with a base causal LM whose LM head is its tied input embeddings."""

    def __init__(self, model: PreTrainedModel, prompt: PromptTokenizer, template: str = PASSAGE_PROMPT) -> None:
        if (reason := cannot_rerank(model)) is not None:
            raise ModelOptionError(reason)
        before, rest = template.split("{passage}")
        between, after = rest.split("{question}")
        if after or not before.endswith(" ") or not between.endswith(" "):
            raise ValueError("the template must end with {question} and put a space before each slot")
        self.model = model
        self.prompt = prompt
        self._before = prompt.special_prefix + prompt.literal(before[:-1])
        self._between = prompt.literal(between[:-1])
        self._softcap: float | None = getattr(model.config, "final_logit_softcapping", None)

    def encode(self, question: str, passages: Sequence[str], passage_tokens: int) -> list[Pair]:
        """The prompt of `question` after each passage, the passage cut to `passage_tokens` tokens."""
        question_ids = self.prompt.pieces([" " + question])[0][:QUESTION_TOKENS]
        pairs = []
        for passage_ids in self.prompt.pieces([" " + p for p in passages]):
            head = self._before + passage_ids[:passage_tokens] + self._between
            pairs.append(Pair(head + question_ids, len(head), len(head) + len(question_ids),
                              len(passage_ids) > passage_tokens))
        return pairs

    def score(self, question: str, passages: Sequence[str], passage_tokens: int, batch_tokens: int) -> Reranked:
        """Mean log-probability of the question's tokens after each passage; the pairs go through the model in
        forwards of at most `batch_tokens` padded tokens (10 passages of 128 tokens: one forward)."""
        pairs = self.encode(question, passages, passage_tokens)
        scores = np.zeros(len(pairs), dtype=np.float64)
        tokens = 0
        for batch in plan_batches([len(p.ids) for p in pairs], batch_tokens):
            rows = [pairs[i] for i in batch]
            scores[batch] = self._forward(rows)
            tokens += max(len(p.ids) for p in rows) * len(rows)
        return Reranked(scores, tokens, sum(p.truncated for p in pairs))

    @torch.inference_mode()
    def _forward(self, pairs: list[Pair]) -> np.ndarray:
        """One forward over `pairs`, right-padded: under a causal mask no real token attends to the pads after it,
        so no padding mask is needed. The head runs only at the positions before each question token."""
        head = cast(torch.Tensor, self.model.get_input_embeddings().weight)  # tied: the LM head's matrix
        device = head.device
        width = max(len(p.ids) for p in pairs)
        ids = torch.zeros((len(pairs), width), dtype=torch.long)
        rows: list[int] = []
        cols: list[int] = []
        targets: list[int] = []
        for row, pair in enumerate(pairs):
            ids[row, : len(pair.ids)] = torch.tensor(pair.ids)
            rows += [row] * (pair.end - pair.start)
            cols += range(pair.start - 1, pair.end - 1)
            targets += pair.ids[pair.start : pair.end]
        hidden = self.model(input_ids=ids.to(device)).last_hidden_state
        owner = torch.tensor(rows, device=device)
        picked = hidden[owner, torch.tensor(cols, device=device)]
        wanted = (picked.float() * head[torch.tensor(targets, device=device)].float()).sum(-1)  # targets' logits
        logp = self._capped(wanted) - self._normalizer(picked, head)
        sums = torch.zeros(len(pairs), device=device).index_add_(0, owner, logp)
        return (sums / torch.bincount(owner, minlength=len(pairs))).double().cpu().numpy()

    def _capped(self, logits: torch.Tensor) -> torch.Tensor:
        """`logits` after the model's final soft cap, if it has one (Gemma-2)."""
        return torch.tanh(logits / self._softcap) * self._softcap if self._softcap else logits

    def _normalizer(self, hidden: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
        """log sum over the vocabulary of exp(logit) for each row of `hidden`, the log-softmax's normalizer: on a CPU
        summed over slices of `HEAD_SLICE` vocabulary rows, whose logits stay in cache (exact up to rounding)."""
        step = HEAD_SLICE if head.device.type == "cpu" else head.shape[0]
        parts = [torch.logsumexp(self._capped((hidden @ head[start : start + step].T).float()), dim=-1)
                 for start in range(0, head.shape[0], step)]
        return torch.logsumexp(torch.stack(parts), dim=0)
