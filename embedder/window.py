"""The model's attention reach, and how long texts fit an echo prompt within it.

An echo vector pools the second copy of a text, whose tokens are meant to have read the whole first copy. In a
model with sliding-window layers (Gemma-3: 5 of every 6 layers see the last 512 positions only) that holds only
while the last pooled token lies within the window of the first copy's first token. A longer text is therefore
cut to what fits (the default), or embedded in consecutive pieces, each echoed on its own and short enough to
fit, whose pooled vectors are averaged weighted by their tokens (the mean over every pooled token, as for a
short text). On long passages, cutting measured better (docs/evaluation.md).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the UI imports embedder.templates (which uses this module) without loading transformers
    from transformers import PretrainedConfig


def attention_reach(config: PretrainedConfig) -> int | None:
    """Positions a token can look back in every layer (query - key < reach), or None when nothing limits it
    but the context length. A model's sliding window counts when any of its layers uses it."""
    window = getattr(config, "sliding_window", None)
    if not window or getattr(config, "use_sliding_window", True) is False:
        return None
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None and "sliding_attention" not in layer_types:
        return None
    return int(window)


def piece_bounds(n_tokens: int, max_tokens: int) -> list[tuple[int, int]]:
    """[start, end) token ranges of the fewest pieces of at most `max_tokens` that cover `n_tokens`, of nearly
    equal size (no short tail piece, whose vector would be noisy)."""
    if max_tokens < 1:
        raise ValueError(f"a piece needs at least one token, got max_tokens={max_tokens}")
    pieces = max(1, math.ceil(n_tokens / max_tokens))
    cuts = [round(i * n_tokens / pieces) for i in range(pieces + 1)]
    return list(zip(cuts[:-1], cuts[1:], strict=True))
