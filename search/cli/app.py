"""The `search` command: `search "question"` ranks chunks; `search serve|info|eval` are subcommands."""

from __future__ import annotations

import importlib
from typing import Any

import typer
from typer.core import TyperGroup

from search.cli import ask, servers, store_admin
from search.cli.errors import err, say_internal_error
from search.errors import ExitCode

DEFAULT_COMMAND = "query"

# The exit statuses of `search.errors`, shared with `ingest` (which also uses 1: some files failed).
EXIT_STATUS_HELP = (
    f"Exit status: {ExitCode.OK} ok; {ExitCode.USAGE} usage error (bad arguments); {ExitCode.REFUSED} the store or "
    "model refused or is unavailable (store locked by another process, server unreachable, collection missing, "
    "fingerprint mismatch, model not found, service refused, store damaged); "
    f"{ExitCode.INTERNAL} unexpected internal error; {ExitCode.NO_SPACE} the disk holding the store is full; "
    f"{ExitCode.INTERRUPTED} interrupted."
)


LAZY_COMMANDS = {"eval": ("search.evaluation.cli", "eval_app")}
"""Subcommands imported only when run (or listed by --help): `search eval` imports torch, and a command that is
refused, such as a search on a locked store, should answer before that."""


class QueryFirstGroup(TyperGroup):
    """Runs the `query` command when the first argument is not a subcommand, so `search "how do I x"` works."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        if args and args[0] not in self.commands and args[0] not in LAZY_COMMANDS \
                and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)

    def list_commands(self, ctx: typer.Context) -> list[str]:  # type: ignore[override]
        return [*super().list_commands(ctx), *(name for name in LAZY_COMMANDS if name not in self.commands)]

    def get_command(self, ctx: typer.Context, name: str) -> Any:  # type: ignore[override]
        if name in LAZY_COMMANDS and name not in self.commands:
            module, attribute = LAZY_COMMANDS[name]
            command = typer.main.get_command(getattr(importlib.import_module(module), attribute))
            command.name = name
            self.add_command(command, name)
        return super().get_command(ctx, name)

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        """Every command: Ctrl-C exits 130, an unexpected error exits 4 with a one-line message, no traceback."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):  # exit statuses and usage errors, as they are
            raise
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(ExitCode.INTERRUPTED) from None
        except Exception as exc:
            say_internal_error(exc)
            raise typer.Exit(ExitCode.INTERNAL) from None


app = typer.Typer(
    cls=QueryFirstGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    help=(
        "Search your documents with echo and classical embeddings, side by side.\n\n"
        'search "how do I rotate the logs?" -k 5        (same as: search query "...")\n\n'
        "search serve --port 8000                        HTTP query service\n\n"
        "search mcp                                      MCP server for assistants (stdio)\n\n"
        "search info                                     what the collection holds"
    ),
    epilog=EXIT_STATUS_HELP,
)


app.command(DEFAULT_COMMAND)(ask.query)
app.command("info")(ask.info)
app.command("collection", hidden=True)(ask.info)
app.command()(servers.serve)
app.command("mcp")(servers.mcp_server)
app.command()(store_admin.backup)
app.command()(store_admin.restore)
app.command()(store_admin.migrate)


def main() -> None:
    """Console-script entry point."""
    app()
