"""The `search` command: `app` (the typer group and its registrations), one module per family of subcommands
(`ask`, `servers`, `store_admin`), shared `options`, one way to print `errors`, and `render` (the result table)."""
