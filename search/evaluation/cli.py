"""`search eval`: placeholder sub-app, filled in by the evaluation work (issue 8)."""

import typer

eval_app = typer.Typer(help="Evaluate echo against classical embeddings.", no_args_is_help=True)
