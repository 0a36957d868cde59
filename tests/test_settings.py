"""One settings object: the environment read once, flags over it, library defaults from it, docs generated from it,
and a UI in HTTP mode that never loads torch."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from search.settings import Settings, SettingsError, env_names, reference_markdown
from search.store import open_collection

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION = ROOT / "docs" / "configuration.md"
BEGIN, END = "<!-- settings: begin (python -m search.settings) -->", "<!-- settings: end -->"
ENV_NAME = re.compile(r"\b(?:ECHO_SEARCH|SEARCH|QDRANT)_[A-Z][A-Z0-9_]*\b")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in env_names():
        monkeypatch.delenv(name, raising=False)


def test_configuration_md_holds_the_generated_reference() -> None:
    text = CONFIGURATION.read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1, "the generated block's markers are missing"
    block = text[text.index(BEGIN) + len(BEGIN):text.index(END)]
    assert block.strip() == reference_markdown().strip(), "docs/configuration.md is stale: python -m search.settings"


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
    import search.backend
    import search.service
    from search.cli import app

    seen: dict[str, Any] = {}
    monkeypatch.setattr(search.backend, "open_searcher",
                        lambda settings, **_: seen.setdefault("settings", settings))  # _: prepare=, run first
    monkeypatch.setattr(search.service, "serve", lambda searcher, service: seen.setdefault("service", service))
    monkeypatch.setenv("SEARCH_MAX_BATCH", "7")
    monkeypatch.setenv("SEARCH_CACHE_SIZE", "9")
    monkeypatch.setenv("ECHO_SEARCH_COLLECTION", "env-collection")
    result = CliRunner().invoke(app, ["serve", "--cache-size", "3", "--port", "9001", "--model", "flag-model"])
    assert result.exit_code == 0, result.output
    service = seen["service"]
    assert (service.max_batch, service.cache_size, service.port, service.batch_wait_ms) == (7, 3, 9001, 5.0)
    assert seen["settings"].store.collection == "env-collection"
    assert seen["settings"].embedder.model == "flag-model"


def test_library_defaults_come_from_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:

    monkeypatch.setenv("ECHO_SEARCH_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("ECHO_SEARCH_COLLECTION", "env-collection")
    with open_collection() as store:
        assert (store.location, store.name) == (str(tmp_path / "env" / "qdrant"), "env-collection")
    with open_collection(data_dir=tmp_path / "arg", collection="arg-collection") as store:
        assert (store.location, store.name) == (str(tmp_path / "arg" / "qdrant"), "arg-collection")


UI_IN_HTTP_MODE = textwrap.dedent('''
    import json, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    ANSWERS = {
        "/health": {"status": "ok", "model_loaded": True, "model": "m", "store_reachable": True,
                    "collection_exists": True},
        "/collection": {"name": "docs", "location": "srv", "points": 0, "files": 0, "sources": [],
                        "fingerprint": None, "embedder": {}, "index": "none", "indexed_vectors": 0, "segments": 0},
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
    assert any("Uploads are off" in i.value for i in at.sidebar.info), "the app did not reach the HTTP backend"
    heavy = sorted(m for m in ("torch", "transformers", "ingest.pipeline", "search.searcher") if m in sys.modules)
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
