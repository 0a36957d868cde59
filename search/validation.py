"""What a search request may ask for: one definition shared by the CLI, the HTTP service, its client and the UI.

Only `InvalidRequestError` means "the caller asked for something the product refuses" (HTTP 422, usage error 2
on the command line); any other exception, a `ValueError` from numpy or a library included, is a bug.
"""

from __future__ import annotations

K_MIN, K_MAX = 1, 100
"""Hits per vector kind that one search may ask for."""


class InvalidRequestError(ValueError):
    """A search request the product refuses, with a message for the caller (k out of range, unknown mode, a query
    over the service's token limit)."""


def check_k(k: int) -> int:
    """`k` when it is within `K_MIN..K_MAX`, else `InvalidRequestError`."""
    if not K_MIN <= k <= K_MAX:
        raise InvalidRequestError(f"k must be between {K_MIN} and {K_MAX}, got {k}")
    return k
