"""The one gate in front of the service's model thread: what a request may cost (the token budget of one prompt,
`SEARCH_MAX_QUERY_TOKENS`: 422 past it) and how many may wait (the queue bound, `SEARCH_MAX_QUEUE`: 503 with
Retry-After past it). `/search`, `/rerank` and `/v1/embeddings` are all admitted here, against one count."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from search.settings import ServiceSettings
from search.validation import InvalidRequestError

_SERVICE = ServiceSettings.model_fields  # the defaults below are the service's (`search.settings`)


class QueueFullError(RuntimeError):
    """As many requests wait for the model as the queue holds (`max_queue`); `retry_after` is a guess, in seconds,
    of when there will be room."""

    def __init__(self, waiting: int, retry_after: int) -> None:
        super().__init__(f"the service is busy: {waiting} queries are waiting for the model (SEARCH_MAX_QUEUE); "
                         f"retry in about {retry_after} s")
        self.retry_after = retry_after


class OverBudgetError(InvalidRequestError):
    """A prompt over the token budget (422); `param`: the request field that holds it."""

    def __init__(self, message: str, param: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass
class Admission:
    """Admits requests to the model thread: `check_tokens` before a request's work is queued, then `admit_search`
    (a search joining the batcher's queue) or `request` (an embedding or rerank request, counted until it is
    answered). A search is refused when `max_queue` searches wait (those of every queue registered with `counts`);
    a request when `max_queue` searches and requests together wait, so a bulk request never crowds searches out.
    `forward_seconds`, the last forward's time (any endpoint's), estimates Retry-After."""

    max_queue: int = _SERVICE["max_queue"].default
    max_tokens: int = _SERVICE["max_query_tokens"].default
    max_batch: int = _SERVICE["max_batch"].default
    forward_seconds: float = 1.0
    held: int = field(default=0, init=False)
    """Embedding and rerank requests admitted and not answered yet."""
    _queues: list[Callable[[], int]] = field(default_factory=list, init=False)

    @classmethod
    def of(cls, settings: ServiceSettings) -> Admission:
        """The gate of a service with these settings."""
        return cls(max_queue=settings.max_queue, max_tokens=settings.max_query_tokens, max_batch=settings.max_batch)

    def counts(self, waiting: Callable[[], int]) -> None:
        """Count what `waiting` says waits (the batcher's searches) against the queue bound."""
        self._queues.append(waiting)

    @property
    def searches(self) -> int:
        """Searches waiting."""
        return sum(waiting() for waiting in self._queues)

    @property
    def waiting(self) -> int:
        """Searches waiting plus requests held."""
        return self.searches + self.held

    def check_tokens(self, costs: Sequence[int], param: str, prompt: str, indexed: bool = False) -> None:
        """`OverBudgetError` (422) naming the first of `costs` (prompt tokens) over the budget. `param`: the field
        ("query", "input"; `param[i]` when `indexed`); `prompt`: what was counted, with `{tokens}` in it."""
        over = [(i, cost) for i, cost in enumerate(costs) if cost > self.max_tokens]
        if not over:
            return
        i, cost = over[0]
        where = f"{param}[{i}]" if indexed else param
        each = " per text" if indexed else ""
        more = f"; {len(over)} texts are over it" if len(over) > 1 else ""
        raise OverBudgetError(f"{where}: {prompt.format(tokens=cost)}; the limit is {self.max_tokens} tokens{each} "
                              f"(SEARCH_MAX_QUERY_TOKENS){more}", param)

    def admit_search(self) -> None:
        """`QueueFullError` (503 with Retry-After) when `max_queue` searches already wait."""
        self._bound(self.searches)

    @contextmanager
    def request(self) -> Iterator[None]:
        """Admit one request (`QueueFullError` when `max_queue` searches and requests already wait) and count it
        until the block ends."""
        self._bound(self.waiting)
        self.held += 1
        try:
            yield
        finally:
            self.held -= 1

    def _bound(self, waiting: int) -> None:
        if waiting >= self.max_queue:
            batches = math.ceil(waiting / self.max_batch) + 1
            raise QueueFullError(waiting, max(1, math.ceil(batches * self.forward_seconds)))
