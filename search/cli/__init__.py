"""The `search` command: its typer app, shared options, error printing and the result table."""
