"""One settings object: the environment read once, flags over it, library defaults from it, docs generated from it,
and a UI in HTTP mode that never loads torch."""

from __future__ import annotations

import ast
import inspect
import re
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from typer.testing import CliRunner

from embedder.settings import CPU_BATCH_TOKENS, DEFAULT_MODEL, EmbedderSettings
from search.settings import (
    SECTIONS,
    ServiceSettings,
    Settings,
    SettingsError,
    StoreSettings,
    env_name,
    env_names,
)
from search.settings_reference import reference_markdown
from search.store import open_collection

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION = ROOT / "docs" / "configuration.md"
BEGIN, END = "<!-- settings: begin (python -m search.settings_reference) -->", "<!-- settings: end -->"
ENV_NAME = re.compile(r"\b(?:ECHO_SEARCH|SEARCH|QDRANT)_[A-Z][A-Z0-9_]*\b")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in env_names():
        monkeypatch.delenv(name, raising=False)


def test_configuration_md_holds_the_generated_reference() -> None:
    text = CONFIGURATION.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "the generated block's markers are missing"
    block = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    assert block.strip() == reference_markdown().strip(), \
        "docs/configuration.md is stale: python -m search.settings_reference"


@pytest.mark.parametrize("doc", ["docs/configuration.md", "README.md"])
def test_every_documented_variable_is_a_setting(doc: str) -> None:
    documented = set(ENV_NAME.findall((ROOT / doc).read_text()))
    assert documented, doc
    assert documented <= set(env_names()), f"{doc} documents variables nothing reads: {documented - set(env_names())}"


def test_every_setting_is_documented_once_with_its_default() -> None:
    block = CONFIGURATION.read_text().split(BEGIN)[1].split(END)[0]
    rows = {m[0]: m[1] for m in re.findall(r"^\| `([A-Z_]+)` \|[^|]*\| ([^|]*) \|", block, re.M)}
    assert sorted(rows) == sorted(env_names())
    assert rows["SEARCH_MAX_BATCH"] == "32" and rows["SEARCH_BATCH_WAIT_MS"] == "5"
    assert rows["ECHO_SEARCH_COLLECTION"] == "`docs`" and rows["ECHO_SEARCH_UPLOAD_MB"] == "50"


def test_environment_is_read_and_empty_means_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("QDRANT_URL", "http://qdrant:6333")
    monkeypatch.setenv("ECHO_SEARCH_DATA", str(tmp_path))
    monkeypatch.setenv("SEARCH_MAX_BATCH", "7")
    monkeypatch.setenv("SEARCH_API_KEY", "")  # compose's `SEARCH_API_KEY:` with nothing set on the host
    monkeypatch.setenv("ECHO_SEARCH_ALLOW_DOWNLOAD", "yes")
    settings = Settings.load()
    assert settings.store.qdrant_url == "http://qdrant:6333" and settings.store.data_dir() == tmp_path
    assert settings.service.max_batch == 7 and settings.service.api_key is None
    assert settings.embedder.allow_download is True
    assert settings.service.cache_size == 1024 and settings.store.collection == "docs"


def test_bad_values_name_their_variable_or_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_PORT", "eighty")
    with pytest.raises(SettingsError, match="SEARCH_PORT='eighty'"):
        Settings.load()
    monkeypatch.delenv("SEARCH_PORT")
    with pytest.raises(SettingsError, match="--max-batch=0"):
        Settings.load().override(service={"max_batch": 0})


def test_override_replaces_only_given_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECHO_SEARCH_COLLECTION", "from-env")
    monkeypatch.setenv("ECHO_SEARCH_MODEL", "env-model")
    settings = Settings.load().override(store={"collection": "from-flag", "qdrant_url": None}, embedder={"model": None})
    assert settings.store.collection == "from-flag" and settings.store.qdrant_url is None
    assert settings.embedder.model == "env-model"
    with pytest.raises(TypeError, match="collectoin"):
        Settings.load().override(store={"collectoin": "typo"})


def test_serve_flags_override_the_environment_field_by_field(monkeypatch: pytest.MonkeyPatch) -> None:
    """A flag left out keeps the variable's value: no flag default may overwrite the environment."""
    import search.query.backend
    import search.service.app
    from search.cli.app import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(search.query.backend, "open_searcher",
                        lambda settings, **_: seen.setdefault("settings", settings))  # _: prepare=, run first
    monkeypatch.setattr(search.service.app, "serve",
                        lambda searcher, service, watch=None: seen.setdefault("service", service))
    monkeypatch.setenv("SEARCH_MAX_BATCH", "7")
    monkeypatch.setenv("SEARCH_CACHE_SIZE", "9")
    monkeypatch.setenv("ECHO_SEARCH_COLLECTION", "env-collection")
    result = CliRunner().invoke(app, ["serve", "--cache-size", "3", "--port", "9001", "--model", "flag-model"])
    assert result.exit_code == 0, result.output
    service = seen["service"]
    assert (service.max_batch, service.cache_size, service.port, service.batch_wait_ms) == (7, 3, 9001, 5.0)
    assert seen["settings"].store.collection == "env-collection"
    assert seen["settings"].embedder.model == "flag-model"


SAMPLES: dict[str, dict[str, tuple[str, Any]]] = {
    # section: {field: (the variable's text, the same value in code)}; never the default
    "embedder": {
        "model": ("some-model", "some-model"), "device": ("cpu", "cpu"), "dtype": ("float32", "float32"),
        "batch_tokens": ("123", 123), "cache": ("/srv/models", Path("/srv/models")), "quantize": ("int8", "int8"),
        "layer": ("3", 3), "classical": ("separate", "separate"), "allow_download": ("yes", True),
    },
    "store": {
        "qdrant_url": ("http://qdrant:6333", "http://qdrant:6333"), "qdrant_api_key": ("k", "k"),
        "data": ("/srv/data", Path("/srv/data")), "collection": ("papers", "papers"), "min_free_mb": ("7.5", 7.5),
        "shards": ("3", 3), "replicas": ("2", 2), "fusion": ("rrf", "rrf"), "rrf_k": ("10", 10),
        "rrf_weights": ("[1, 2]", (1.0, 2.0)), "hybrid_prefetch": ("7", 7),
    },
    "service": {
        "url": ("http://svc:8000", "http://svc:8000"), "api_key": ("key", "key"), "host": ("0.0.0.0", "0.0.0.0"),
        "port": ("9001", 9001), "threads": ("2", 2), "max_batch": ("8", 8), "batch_wait_ms": ("2.5", 2.5),
        "cache_size": ("3", 3), "max_query_tokens": ("300", 300), "batch_tokens": ("2048", 2048),
        "max_queue": ("9", 9), "max_body_bytes": ("4096", 4096), "metrics_public": ("true", True),
    },
    "ui": {"upload_mb": ("7", 7), "watch": ('["/srv/docs", "/srv/notes"]', (Path("/srv/docs"), Path("/srv/notes")))},
    "rerank": {"depth": ("20", 20), "first_stage": ("bm25", "bm25"), "passage_tokens": ("256", 256)},
}


def library_options(settings: Settings) -> dict[str, Any]:
    """What reaches the library from the settings: the model's and the store's keyword arguments, and the service
    and UI sections as they are handed over."""
    return {"load": settings.embedder.load_options(), "open": settings.store.collection_options(),
            "service": settings.service, "ui": settings.ui, "rerank": settings.rerank}


def test_every_field_has_a_sample() -> None:
    assert {name: set(section.model_fields) for name, section in SECTIONS.items()} == \
        {name: set(fields) for name, fields in SAMPLES.items()}


@pytest.mark.parametrize(("section", "field"), [(s, f) for s, fields in SAMPLES.items() for f in fields])
def test_settings_built_in_code_mean_what_the_environment_means(
    monkeypatch: pytest.MonkeyPatch, section: str, field: str
) -> None:
    """Field by field: a value set in the environment and the same value given in code make equal settings, and
    equal options reach the library (every field of the model and the store, changed from the defaults')."""
    text, value = SAMPLES[section][field]
    cls = SECTIONS[section]
    with monkeypatch.context() as env:
        env.setenv(env_name(cls, field), text)
        from_env = Settings.load()
    in_code = Settings(**{section: cls(**{field: value})})
    assert from_env == in_code
    assert getattr(in_code, section) != cls.defaults(), "the sample is the default"
    assert library_options(from_env) == library_options(in_code)
    assert library_options(in_code)[{"embedder": "load", "store": "open"}.get(section, section)] != \
        library_options(Settings())[{"embedder": "load", "store": "open"}.get(section, section)], \
        f"{section}.{field} does not reach the library"


def test_the_options_are_the_library_calls_keyword_arguments() -> None:
    from embedder import Embedder

    assert set(EmbedderSettings().load_options()) <= set(inspect.signature(Embedder.from_pretrained).parameters)
    assert set(StoreSettings().collection_options()) <= set(inspect.signature(open_collection).parameters)


def test_quantization_and_the_cache_reach_the_loaded_model(tiny_model_dir: Path, tmp_path: Path) -> None:
    from embedder import Embedder

    settings = EmbedderSettings(model=str(tiny_model_dir), device="cpu", dtype="float32", quantize="int8",
                                cache=tmp_path / "cache")
    assert settings.load_options()["cache"] == tmp_path / "cache"
    assert Embedder.from_pretrained(**settings.load_options()).quantization == "int8"


def test_shards_and_replicas_reach_the_server_create_call(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = StoreSettings(qdrant_url=":memory:", shards=3, replicas=2)
    with open_collection(**settings.collection_options()) as store:
        created: dict[str, Any] = {}
        client = store.client  # type: ignore[attr-defined]
        real_create = client.create_collection
        monkeypatch.setattr(client, "create_collection",
                            lambda *args, **kwargs: created.update(kwargs) or real_create(*args, **kwargs))
        store.ensure("fp", {"model": "test"}, 4)
    assert (created["shard_number"], created["replication_factor"]) == (3, 2)


def test_the_library_reads_no_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Library calls given nothing use the declared defaults, whatever the environment says; only the XDG base
    folders place the default data folder and model cache."""
    import torch

    from embedder import device, loading
    from search.service.app import create_app
    from search.store import DEFAULT_COLLECTION, Fusion

    for name, (cls, field) in env_names().items():
        text = SAMPLES[next(n for n, s in SECTIONS.items() if s is cls)][field][0]
        monkeypatch.setenv(name, str(tmp_path / "env") if field in ("data", "cache") else text)
    monkeypatch.delenv("QDRANT_URL")  # so that the environment's store could be opened, were it read
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    with open_collection() as store:
        assert (store.location, store.name) == (str(tmp_path / "xdg" / "echo-search" / "qdrant"), DEFAULT_COLLECTION)
        assert store.fusion == Fusion()
    with open_collection(**StoreSettings().collection_options()) as store:  # what an entry point does
        assert (store.location, store.name) == (str(tmp_path / "env" / "qdrant"), "papers")
    assert device.pick_quantization() is None
    assert device.default_batch_tokens(torch.device("cpu")) == CPU_BATCH_TOKENS
    assert device.pick_device() == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setattr(loading, "_packaged_gguf", lambda name, cache: cache / "gguf" / name)
    monkeypatch.setattr(loading, "convert_gguf", lambda gguf, target: target)  # nothing converted here
    assert loading.resolve(None) == (tmp_path / "xdg-cache" / "echo-search" / "models" / DEFAULT_MODEL, DEFAULT_MODEL)
    app = create_app(SimpleNamespace(embedder=None))  # type: ignore[arg-type]
    assert app.state.batcher.max_batch == ServiceSettings.model_fields["max_batch"].default


def test_only_entry_points_read_the_environment() -> None:
    """`os.environ`, a settings class built (it reads the environment) or `Settings.load()`: only where a program
    starts, where the process is set up, or in the XDG defaults."""
    allowed = {
        "embedder/settings.py": {"os.environ"}, "search/store/defaults.py": {"os.environ"},  # the XDG base folders
        "embedder/model_thread.py": {"os.environ"}, "ingest/offline.py": {"os.environ"},  # process set-up
        "search/cli/options.py": {"Settings.load()"}, "ui/app.py": {"Settings.load()"},
        "ui/launch.py": {"os.environ", "Settings.load()"},
        "embedder/langchain.py": {"EmbedderSettings()"}, "search/langchain.py": {"Settings.load()"},
        "search/query/searcher.py": {"Settings.load()"},  # `Searcher.open()` opens what `search` would
        "embedder/llm_plugin.py": {"EmbedderSettings()"},  # llm registers its plugins when it starts
        "search/mcp/ingesting.py": {"os.environ"},  # the environment of the `ingest` process the tool starts
    }
    found: dict[str, set[str]] = {}
    for path in sorted(p for package in ("embedder", "ingest", "search", "ui") for p in (ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            read = None
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os" \
                    and node.attr in ("environ", "getenv"):
                read = f"os.{node.attr}"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id.endswith("Settings"):
                read = f"{node.func.id}()"
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "load" \
                    and isinstance(node.func.value, ast.Name) and node.func.value.id == "Settings":
                read = "Settings.load()"
            if read:
                found.setdefault(str(path.relative_to(ROOT)), set()).add(read)
    assert found == allowed


UI_IN_HTTP_MODE = textwrap.dedent('''
    import json, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    ANSWERS = {
        "/health": {"status": "ok", "model_loaded": True, "model": "m", "store_reachable": True,
                    "collection_exists": True},
        "/collection": {"name": "docs", "location": "srv", "points": 0, "files": 0, "sources": [],
                        "fingerprint": None, "embedder": {}, "index": "none", "indexed_vectors": 0, "segments": 0,
                        "generation": 0},
    }

    class Service(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps(ANSWERS[self.path]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    import os
    os.environ["SEARCH_URL"] = f"http://127.0.0.1:{server.server_port}"

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(sys.argv[1], default_timeout=60)
    at.run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert any("Uploads are off" in i.value for i in at.sidebar.info), "the app did not reach the HTTP service"
    heavy = sorted(m for m in ("torch", "transformers", "ingest.pipeline", "search.query.searcher") if m in sys.modules)
    print("loaded:", heavy)
''')


def test_ui_in_http_mode_never_imports_torch(tmp_path: Path) -> None:
    """The whole page, run against a stand-in service: no torch, no model code, no ingest pipeline in the process."""
    script = tmp_path / "ui_http.py"
    script.write_text(UI_IN_HTTP_MODE)
    done = subprocess.run([sys.executable, str(script), str(ROOT / "ui" / "app.py")], cwd=ROOT, capture_output=True,
                          text=True, timeout=180, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                                       "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loaded: []" in done.stdout, done.stdout
