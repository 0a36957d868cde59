"""echo-search's settings: one typed object, `Settings`, read from the environment, with every default written once.

Layout. The packages depend one way (ui -> search, ingest -> embedder), so the settings come in sections, one per
layer, composed here into one object:

- `embedder` (`EmbedderSettings`, `ECHO_SEARCH_MODEL`, ...) lives in `embedder/settings.py`, so the embedder can be
  configured on its own without knowing about Qdrant or HTTP;
- `store`, `service` and `ui` are declared below. This module is the lowest one that every reader can import (the
  `ingest` and `search` commands, the service, the UI) and imports nothing but pydantic-settings and the embedder's
  section, so loading the settings loads neither torch nor Qdrant. The UI's settings (the upload limit, the folders
  it keeps in sync) are declared here, beside the others, so that this one object documents all of them.

Reading. `Settings.load()` reads the environment once (an empty variable counts as unset); a bad value raises
`SettingsError` naming the variable. Entry points (the commands, the UI, the LangChain classes built without
settings) load it, apply their flags explicitly with `Settings.override` (a flag left out keeps the environment's
value or the default) and pass the values on: `Embedder.from_pretrained(**settings.embedder.load_options())`,
`open_collection(**settings.store.collection_options())`, `create_app(searcher, settings.service)`. Library code
reads no setting from the environment; an argument it is not given means the default declared here.

`python -m search.settings_reference` prints the reference tables of docs/configuration.md, generated from the fields
below; tests/test_settings.py checks that the file holds them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from embedder.settings import COMMON, RERANK_PASSAGE_TOKENS, EmbedderSettings, Section, doc_default
from search.store.defaults import DEFAULT_COLLECTION, DEFAULT_MIN_FREE_MB, default_data_dir, embedded_folder
from search.store.fusion import Fusion
from search.validation import check_collection_name


class SettingsError(ValueError):
    """A setting has a value that cannot be used; the message names the environment variable."""


class StoreSettings(Section):
    """Where the collection lives: a Qdrant server, or the embedded store under the data folder."""

    model_config = SettingsConfigDict(env_prefix="ECHO_SEARCH_", **COMMON)

    qdrant_url: str | None = Field(
        default=None, validation_alias="QDRANT_URL",
        description="URL of a Qdrant server or cluster, e.g. `http://localhost:6333`",
        json_schema_extra={"flag": "--qdrant-url", **doc_default("unset: embedded store")},
    )
    qdrant_api_key: str | None = Field(
        default=None, validation_alias="QDRANT_API_KEY", description="API key sent to the Qdrant server",
        json_schema_extra={"flag": "--qdrant-api-key"},
    )
    data: Path | None = Field(
        default=None,
        description="data folder: the embedded store (`qdrant/`, ignored with a server URL) and UI uploads "
        "(`uploads/`)",
        json_schema_extra={"flag": "--data-dir",
                           **doc_default("`$XDG_DATA_HOME/echo-search`, else `~/.local/share/echo-search`")},
    )
    collection: str = Field(
        default=DEFAULT_COLLECTION, min_length=1,
        description="the collection to write and search (1-255 characters and at most 200 bytes in UTF-8: no path "
        "separators, `..` or control characters, Qdrant's rules)",
        json_schema_extra={"flag": "--collection"},
    )
    min_free_mb: float = Field(
        default=DEFAULT_MIN_FREE_MB, ge=0,
        description="free disk space, in MiB, that writes to the embedded store leave: a write that would leave less "
        "stops with exit status 5 before anything is half-written",
    )
    shards: int | None = Field(
        default=None, ge=1, description="shard number of a new collection on a server",
        json_schema_extra=doc_default("Qdrant's (1)"),
    )
    replicas: int | None = Field(
        default=None, ge=1, description="replication factor of a new collection on a server",
        json_schema_extra=doc_default("Qdrant's (1)"),
    )

    fusion: Literal["dbsf", "rrf"] = Field(
        default="dbsf",
        description="how the `hybrid` ranking fuses the echo and BM25 rankings, in one engine query: `dbsf` "
        "(distribution-based score fusion: each list's scores normalised by their spread, then summed) or `rrf` "
        "(reciprocal rank fusion, see `ECHO_SEARCH_RRF_K`)",
    )
    rrf_k: int = Field(default=60, ge=1, description="the constant k of `rrf`: a hit at rank r (from 0) of a list "
                       "adds 1 / (k + r) to its fused score (with a weight w: 1 / ((r + 1) / w + k - 1))")
    rrf_weights: tuple[float, float] | None = Field(
        default=None,
        description="weights of the echo and the BM25 list in `rrf`, as JSON, e.g. `[1, 2]`",
        json_schema_extra=doc_default("equal"),
    )
    hybrid_prefetch: int = Field(
        default=5, ge=1, le=100,
        description="`hybrid` fuses the top k x this many hits of echo and of BM25 (k: the hits asked for)",
    )

    @field_validator("data")
    @classmethod
    def _data_folder(cls, value: Path | None) -> Path | None:
        if value is not None and value.expanduser().exists() and not value.expanduser().is_dir():
            raise ValueError(f"{value} is a file, not a folder")
        return value

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        return check_collection_name(value)  # a name is a folder of the embedded store: never one outside it

    def data_dir(self) -> Path:
        """`data`, else `$XDG_DATA_HOME/echo-search`, else ~/.local/share/echo-search."""
        return self.data.expanduser() if self.data is not None else default_data_dir()

    def embedded_folder(self, path: str | os.PathLike[str] | None = None) -> Path | None:
        """The embedded store's folder (`path`, else `qdrant/` under the data folder); None with a Qdrant server."""
        return None if self.qdrant_url else embedded_folder(path, self.data_dir())

    def fusion_options(self) -> Fusion:
        """The fusion of the `hybrid` ranking these settings describe (`ECHO_SEARCH_FUSION`, `..._RRF_K`,
        `..._RRF_WEIGHTS`, `..._HYBRID_PREFETCH`)."""
        return Fusion(self.fusion, self.rrf_k, self.rrf_weights, self.hybrid_prefetch)

    def collection_options(self) -> dict[str, Any]:
        """The keyword arguments of `search.store.open_collection` these settings decide: every field (the data
        folder resolved, the fusion fields as one `Fusion`)."""
        return {"url": self.qdrant_url, "api_key": self.qdrant_api_key, "collection": self.collection,
                "data_dir": self.data_dir(), "fusion": self.fusion_options(), "min_free_mb": self.min_free_mb,
                "shards": self.shards, "replicas": self.replicas}


FirstStage = Literal["hybrid", "bm25", "echo", "classical"]


class RerankSettings(Section):
    """The `rerank` ranking: a first stage's top `depth` hits rescored by the model (query likelihood)."""

    model_config = SettingsConfigDict(env_prefix="ECHO_SEARCH_RERANK_", **COMMON)

    depth: int = Field(
        default=10, ge=1, le=100,
        description="hits of the first stage that `rerank` rescores (each costs a model forward over its passage); "
        "hits past them follow in the first stage's order, with its scores",
    )
    first_stage: FirstStage = Field(
        default="hybrid", description="the ranking whose top hits `rerank` rescores: `hybrid`, `bm25`, `echo` or "
        "`classical`",
    )
    passage_tokens: int = Field(
        default=RERANK_PASSAGE_TOKENS, ge=8, le=4096,
        description="tokens of each passage the model reads when it rescores (the rest is cut): the cost of a "
        "rerank grows with it",
    )


class ServiceSettings(Section):
    """The HTTP query service (`search serve`): where it listens, its key and limits, and where clients find it."""

    model_config = SettingsConfigDict(env_prefix="SEARCH_", **COMMON)

    url: str | None = Field(
        default=None,
        description="clients (`search`, the UI) ask the query service at this URL instead of opening the store (the UI "
        "then loads no model and takes no uploads)",
        json_schema_extra={"flag": "`search --service`, `search-ui --search-url`"},
    )
    api_key: str | None = Field(
        default=None,
        description="the service requires this key on every endpoint except `/health` and the API docs (`X-API-Key: "
        "KEY` or `Authorization: Bearer KEY`, checked before the body is read); clients send it",
    )
    host: str = Field(
        default="127.0.0.1", description="interface to bind; `0.0.0.0` to serve other machines (set an API key)",
        json_schema_extra={"flag": "--host"},
    )
    port: int = Field(default=8000, ge=1, le=65535, description="port", json_schema_extra={"flag": "--port"})
    threads: int | None = Field(
        default=None, ge=1, description="CPU threads for the model (1 is often faster on a busy machine)",
        json_schema_extra={"flag": "--threads", **doc_default("torch's choice")},
    )
    max_batch: int = Field(
        default=32, ge=1, le=256, description="questions per model forward when requests arrive together",
        json_schema_extra={"flag": "--max-batch"},
    )
    batch_wait_ms: float = Field(
        default=5.0, ge=0,
        description="under load, how long to gather concurrent requests into one forward (a lone request never waits)",
        json_schema_extra={"flag": "--batch-wait-ms"},
    )
    cache_size: int = Field(
        default=1024, ge=0, description="answers kept in the LRU cache (0 turns it off)",
        json_schema_extra={"flag": "--cache-size"},
    )
    max_query_tokens: int = Field(
        default=1024, ge=16,
        description="tokens one query's echo prompt (the query twice, the instruction once) may take; more gets 422 "
        "naming the limit, before the model runs",
        json_schema_extra={"flag": "--max-query-tokens"},
    )
    batch_tokens: int = Field(
        default=4096, ge=16,
        description="prompt tokens one micro-batch may take (queries of similar cost are batched together)",
        json_schema_extra={"flag": "--batch-tokens"},
    )
    max_queue: int = Field(
        default=256, ge=1,
        description="queries that may wait for the model; one more gets 503 with a Retry-After header (queries whose "
        "client hung up are dropped before their forward)",
        json_schema_extra={"flag": "--max-queue"},
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, description="largest request body; a larger one gets 413 without being read",
        json_schema_extra={"flag": "--max-body-bytes"},
    )
    metrics_public: bool = Field(
        default=False,
        description="serve `/metrics` (Prometheus) without the API key, for a scraper that cannot send it; the other "
        "endpoints still need the key",
    )


class UiSettings(Section):
    """The web UI."""

    model_config = SettingsConfigDict(env_prefix="ECHO_SEARCH_", **COMMON)

    upload_mb: int = Field(default=50, ge=1, description="size limit of one uploaded file, in MB")
    watch: tuple[Path, ...] = Field(
        default=(), validation_alias="ECHO_SEARCH_UI_WATCH",
        description="files and folders the UI keeps in sync (as `ingest --watch` does) through the search service it "
        "starts, which holds the store, as a JSON list, e.g. `[\"/srv/docs\"]`; refused beside a service it did not "
        "start (run `search serve --watch` there instead)",
        json_schema_extra={"flag": "`search-ui --watch`", **doc_default("none")},
    )


class Settings(BaseModel):
    """All of echo-search's settings, by section; `Settings.load()` reads them from the environment."""

    model_config = ConfigDict(frozen=True)

    embedder: EmbedderSettings = Field(default_factory=EmbedderSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    service: ServiceSettings = Field(default_factory=ServiceSettings)
    ui: UiSettings = Field(default_factory=UiSettings)
    rerank: RerankSettings = Field(default_factory=RerankSettings)

    @classmethod
    def load(cls) -> Settings:
        """Read every section from the environment; `SettingsError` names a variable whose value is unusable."""
        with _readable_errors():
            return cls()

    def override(self, **sections: Mapping[str, Any]) -> Settings:
        """These settings with explicitly given values (flags) in place, e.g. `override(store={"collection": c})`;
        a value of None means "not given". `SettingsError` names a flag whose value is unusable."""
        with _readable_errors(sections):
            return self.model_copy(update={name: getattr(self, name).override(**values)
                                           for name, values in sections.items()})


@contextmanager
def _readable_errors(given: Mapping[str, Mapping[str, Any]] | None = None) -> Iterator[None]:
    """Turn pydantic's `ValidationError` into a `SettingsError` naming, for each bad value, its flag when it was
    `given` (as `Settings.override` takes them) and has one, else its environment variable."""
    try:
        yield
    except ValidationError as exc:
        name, section = next(((n, s) for n, s in SECTIONS.items() if s.__name__ == exc.title), ("", None))
        problems = []
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            label = field
            if section is not None and field in section.model_fields:
                flag = field_extras(section, field).get("flag", "")
                from_flag = (given or {}).get(name, {}).get(field) is not None and flag.startswith("--")
                label = flag if from_flag else env_name(section, field)
            problems.append(f"{label}={error.get('input')!r}: {error['msg']}")
        raise SettingsError("bad setting: " + "; ".join(problems)) from None


SECTIONS: dict[str, type[Section]] = {"embedder": EmbedderSettings, "store": StoreSettings,
                                      "service": ServiceSettings, "ui": UiSettings,
                                      "rerank": RerankSettings}
TITLES = {"embedder": "The model", "store": "The store", "service": "The query service", "ui": "The UI",
          "rerank": "The `rerank` ranking"}


def env_name(section: type[Section], field: str) -> str:
    """The environment variable of a field: its alias, else the section's prefix and the field's name."""
    info = section.model_fields[field]
    if isinstance(info.validation_alias, str):
        return info.validation_alias
    return f"{section.model_config.get('env_prefix', '')}{field}".upper()


def env_names() -> dict[str, tuple[type[Section], str]]:
    """Every environment variable the settings read: {name: (section, field)}."""
    return {env_name(section, field): (section, field)
            for section in SECTIONS.values() for field in section.model_fields}


def field_extras(section: type[Section], field: str) -> dict[str, str]:
    """A field's documentation extras: `flag` (the option that sets it), `doc_default` (a computed default)."""
    extra = section.model_fields[field].json_schema_extra
    return {key: str(value) for key, value in extra.items()} if isinstance(extra, dict) else {}
