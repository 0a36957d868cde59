"""`search-ui`: start the Streamlit app (`streamlit run ui/app.py`) with the collection and model chosen here; the app
finds or starts the search service it talks to (`ui.holder`)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from embedder.settings import EmbedderSettings
from search.cli.errors import user_errors
from search.cli.options import setting_help
from search.settings import ServiceSettings, Settings, StoreSettings, UiSettings, env_name
from search.validation import collection_name_problem
from ui.holder import find_or_start

APP = Path(__file__).with_name("app.py")


def streamlit_command(port: int = 8501, address: str = "localhost", headless: bool = False) -> list[str]:
    """The command line that serves the app."""
    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(port), "--server.address", address,
        "--server.headless", str(headless).lower(), "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "minimal",
    ]


def app_environment(
    data: str | None = None,
    collection: str | None = None,
    model: str | None = None,
    qdrant_url: str | None = None,
    search_url: str | None = None,
    watch: list[Path] | None = None,
) -> dict[str, str]:
    """The environment the app reads its settings from: this process's, with the given values set (`watch` as the
    JSON list of absolute paths that `ECHO_SEARCH_UI_WATCH` holds)."""
    env = dict(os.environ)
    watched = json.dumps([str(path.expanduser().absolute()) for path in watch]) if watch else None
    chosen = {env_name(StoreSettings, "data"): data, env_name(StoreSettings, "collection"): collection,
              env_name(EmbedderSettings, "model"): model, env_name(StoreSettings, "qdrant_url"): qdrant_url,
              env_name(ServiceSettings, "url"): search_url, env_name(UiSettings, "watch"): watched}
    env.update({name: value for name, value in chosen.items() if value})
    return env


def run(
    port: Annotated[int, typer.Option(help="Port to serve on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to bind (0.0.0.0 to share on the network).")] = "localhost",
    headless: Annotated[bool, typer.Option(help="Do not open a browser.")] = False,
    data: Annotated[str | None, typer.Option(
        show_default=False, help=setting_help("Data folder of the embedded store.", StoreSettings, "data"))] = None,
    collection: Annotated[str | None, typer.Option(
        show_default=False, help=setting_help("Collection.", StoreSettings, "collection"))] = None,
    model: Annotated[str | None, typer.Option(
        show_default=False, help=setting_help("Model.", EmbedderSettings, "model"))] = None,
    qdrant_url: Annotated[str | None, typer.Option(
        show_default=False, help=setting_help("Qdrant server.", StoreSettings, "qdrant_url"))] = None,
    search_url: Annotated[str | None, typer.Option(
        show_default=False, help=setting_help("HTTP query service to use instead.", ServiceSettings, "url"))] = None,
    watch: Annotated[list[Path] | None, typer.Option(
        "--watch", exists=True, show_default=False, help=setting_help(
            "A file or folder to keep in sync (as `ingest --watch` does) by the search service the UI starts, which "
            "holds the store; repeat for more.", UiSettings, "watch"))] = None,
) -> None:
    """Serve the side-by-side echo | classical search page (replaces this process with Streamlit).

    First the search service the page talks to is found or started (`ui.holder`): it holds the store from now on,
    so `search`, `ingest` and the other commands work beside the page, and it stops with it."""
    if collection is not None and (problem := collection_name_problem(collection)):
        raise typer.BadParameter(f"invalid collection name {collection!r}: {problem}", param_hint="--collection")
    service = search_url or os.environ.get(env_name(ServiceSettings, "url"))
    if watch and service:
        raise typer.BadParameter(f"the page would use the search service at {service}, which holds the store: run "
                                 "`search serve --watch PATH` there instead", param_hint="--watch")
    cmd = streamlit_command(port, address, headless)
    env = app_environment(data, collection, model, qdrant_url, search_url, watch)
    os.environ.update(env)  # this process becomes the page: its environment is the page's
    with user_errors():
        found = find_or_start(Settings.load())
    if found.child is not None:
        typer.echo(f"search service {found.url} holds the store while the page runs (search, ingest, search eval and "
                   "LangChain on this data folder reach it)", err=True)
        env.pop(env_name(UiSettings, "watch"), None)  # the started service keeps them in sync
    os.execve(sys.executable, cmd, env)  # same pid: the started service stops when the page does


def main() -> None:
    """Console script entry point: `search-ui --port 8501 [--watch ~/notes]`."""
    typer.run(run)


if __name__ == "__main__":
    main()
