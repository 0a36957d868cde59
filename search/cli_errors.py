"""How a command ends on a product error: its message, and the exit status of the one error map (`search.errors`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import typer

from search.errors import verdict


@contextmanager
def exit_on_product_errors(say: Callable[[str], None]) -> Iterator[None]:
    """Run the block; an error the map names is told with `say(message)` and ends the command with its exit status,
    never a traceback. Anything else goes on: the command reports it as an internal error (exit status 4)."""
    try:
        yield
    except Exception as exc:
        found = verdict(exc)
        if found is None:
            raise
        say(found.message)
        raise typer.Exit(found.exit_code) from None
