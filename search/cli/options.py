"""Command-line options shared by `ingest`, `search` and `search eval`: which store, collection and model.

Every option defaults to None, "not given": the command loads `Settings` (the environment and the defaults, written
once in `search.settings`) and applies the options given with `settings_with_flags`, so a flag wins over its
variable. The help text names each option's variable and default from the settings themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from embedder.settings import EmbedderSettings, Section
from search.settings import ServiceSettings, Settings, SettingsError, StoreSettings, env_name
from search.settings_reference import documented_default


def setting_help(text: str, section: type[Section], field: str) -> str:
    """`text` followed by the option's variable and default, e.g. "(env QDRANT_URL; default: unset)"; parentheses,
    since rich, which typer renders help with, takes square brackets for markup."""
    default = documented_default(section, field).replace("`", "")
    return f"{text} (env {env_name(section, field)}; default: {default})"


CollectionName = Annotated[str | None, typer.Option(
    "--collection", show_default=False, help=setting_help("Collection name.", StoreSettings, "collection"))]
QdrantUrl = Annotated[str | None, typer.Option(
    "--qdrant-url", show_default=False,
    help=setting_help("Qdrant server URL (else the embedded store).", StoreSettings, "qdrant_url"))]
QdrantKey = Annotated[str | None, typer.Option(
    "--qdrant-api-key", show_default=False, help=setting_help("Qdrant API key.", StoreSettings, "qdrant_api_key"))]
DataDir = Annotated[Path | None, typer.Option(
    "--data-dir", show_default=False,
    help=setting_help("Data folder of the embedded store.", StoreSettings, "data"))]
Model = Annotated[str | None, typer.Option(
    "--model", show_default=False,
    help=setting_help("Model: packaged name, HF id, folder or .gguf file.", EmbedderSettings, "model"))]


def settings_with_flags(
    collection: str | None = None,
    qdrant_url: str | None = None,
    qdrant_api_key: str | None = None,
    data_dir: Path | None = None,
    model: str | None = None,
) -> Settings:
    """The settings from the environment with the store and model options that were given in place.

    A variable with an unusable value is a usage error (exit status 2) naming it."""
    try:
        return Settings.load().override(
            store={"collection": collection, "qdrant_url": qdrant_url, "qdrant_api_key": qdrant_api_key,
                   "data": data_dir},
            embedder={"model": model},
        )
    except SettingsError as exc:
        raise typer.BadParameter(str(exc)) from None

JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def with_service_flags(settings: Settings, **given: Any) -> Settings:
    """`settings` with the service options that were given; an unusable value is a usage error naming it."""
    try:
        return settings.override(service=given)
    except SettingsError as exc:
        raise typer.BadParameter(str(exc)) from None

ServiceUrl = Annotated[str | None, typer.Option("--service", show_default=False, help=setting_help(
    "URL of a running `search serve` to ask instead (without it, one that holds the embedded store answers).",
    ServiceSettings, "url"))]
