"""Length-sorted batches bounded by a token budget, so that padding stays small."""

from __future__ import annotations

from collections.abc import Sequence


def plan_batches(lengths: Sequence[int], batch_tokens: int, max_batch: int = 256) -> list[list[int]]:
    """Group indices into batches of similar length whose padded size (rows x longest) fits `batch_tokens`.

    Longest first, so the first batch shows the peak memory at once. A sequence longer than the budget gets a
    batch of its own.
    """
    order = sorted(range(len(lengths)), key=lambda i: -lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        longest_if_added = max(longest, lengths[i])
        if current and (longest_if_added * (len(current) + 1) > batch_tokens or len(current) >= max_batch):
            batches.append(current)
            current, longest_if_added = [], lengths[i]
        current.append(i)
        longest = longest_if_added
    if current:
        batches.append(current)
    return batches
