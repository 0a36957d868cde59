"""How a command ends on a product error: its message, and the exit status of the one error map (`search.errors`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console
from rich.markup import escape

from search.errors import verdict

err = Console(stderr=True)
"""Where every command writes what is not its result: errors, warnings, progress."""


def say_error(message: str) -> None:
    """Print `message` on stderr as "error: ..." (taken literally, never as markup): how every command (`search`,
    `search eval`, `ingest`) reports a product error."""
    err.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)


def say_internal_error(exc: BaseException) -> None:
    """Print an error no rule of `search.errors` names (a bug) as one line, never a traceback."""
    err.print(f"[red]internal error:[/red] {escape(f'{type(exc).__name__}: {exc}')} (a bug: please report it with "
               "the command you ran)", highlight=False, soft_wrap=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Run the block; an error the map names is printed as "error: ..." and ends the command with its exit status,
    never a traceback. Anything else goes on: the command reports it as an internal error (exit status 4)."""
    try:
        yield
    except Exception as exc:
        found = verdict(exc)
        if found is None:
            raise
        say_error(found.message)
        raise typer.Exit(found.exit_code) from None
