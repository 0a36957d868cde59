"""Run a causal LM with a bidirectional attention mask (the paper's "Cl.+Bi" baseline), without retraining.

transformers' mask builders return a ready 4-D mask unchanged, and SDPA/eager attention then apply that mask
instead of their causal one. We pass an additive float mask that hides only the padding keys, so every token
attends to every real token of its row. `supports_bidirectional` checks this on the actual model: the state of
the first token must change when a later token changes.
"""

from __future__ import annotations

import dataclasses
from typing import cast

import torch
from transformers import PreTrainedModel

from embedder import Embedder
from embedder.model_thread import on_model_thread


class BidirectionalModel(torch.nn.Module):
    """Wraps a base model: every token attends to every real token of its row (trailing padding is hidden)."""

    def __init__(self, inner: torch.nn.Module, pad_id: int) -> None:
        super().__init__()
        self.inner = inner
        self.config = inner.config
        self.pad_id = pad_id

    def forward(  # noqa: ANN201
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None, output_hidden_states: bool = False
    ):
        if attention_mask is None:  # right padding: the real tokens end at the last non-pad id of each row
            attention_mask = real_tokens(input_ids, self.pad_id)
        dtype = next(self.inner.parameters()).dtype
        rows, width = attention_mask.shape
        hidden = ~attention_mask.bool()[:, None, None, :].expand(rows, 1, width, width)
        mask = torch.zeros((rows, 1, width, width), dtype=dtype, device=attention_mask.device)
        mask = mask.masked_fill(hidden, torch.finfo(dtype).min)
        return self.inner(input_ids=input_ids, attention_mask=mask, output_hidden_states=output_hidden_states)


def real_tokens(input_ids: torch.Tensor, pad_id: int) -> torch.Tensor:
    """1 up to and including the last non-pad id of each right-padded row, 0 after it."""
    positions = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    last = torch.where(input_ids != pad_id, positions, -1).max(dim=1, keepdim=True).values
    return (positions <= last).long()


def _pad_id(embedder: Embedder) -> int:
    pad = embedder.tokenizer.pad_token_id
    return int(pad) if pad is not None else 0


def bidirectional(embedder: Embedder) -> Embedder:
    """The same embedder (shared weights) with bidirectional attention."""
    if isinstance(embedder.model, BidirectionalModel):
        return embedder
    wrapped = BidirectionalModel(embedder.model, _pad_id(embedder))
    return dataclasses.replace(embedder, model=cast(PreTrainedModel, wrapped))  # same config and forward


def supports_bidirectional(embedder: Embedder) -> bool:
    """Whether the bidirectional mask really takes effect: the first token must see a change at the last one."""
    return on_model_thread(_first_token_sees_the_last, embedder)


@torch.inference_mode()
def _first_token_sees_the_last(embedder: Embedder) -> bool:
    model = BidirectionalModel(embedder.model, _pad_id(embedder))
    ids = embedder.prompt.special_prefix + embedder.prompt.text_ids("one two three", leading_space=False)
    if len(ids) < 2:
        return False
    first = torch.tensor([ids], device=embedder.device)
    second = first.clone()
    second[0, -1] = (int(second[0, -1]) + 1) % int(embedder.model.config.vocab_size)
    try:
        a = model(input_ids=first).last_hidden_state[0, 0]
        b = model(input_ids=second).last_hidden_state[0, 0]
    except Exception:  # noqa: BLE001 - any model that rejects a 4-D mask simply does not support it
        return False
    return not torch.allclose(a.float(), b.float())
