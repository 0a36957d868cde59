"""docker-compose.yml and the Dockerfile, checked against the code (no Docker engine needed).

Everything the deployment files name - commands, options, environment variables, ports, volumes, health
endpoints - must exist in the code; the lists are derived from the sources, so renaming an environment
variable or a command in the code fails here.
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import tomllib
import yaml

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("embedder", "ingest", "search", "ui")
COMPOSE = ROOT / "docker-compose.yml"
CPU_OVERRIDE = ROOT / "docker-compose.cpu.yml"
DOCKERFILE = ROOT / "Dockerfile"
QDRANT_PORT = 6333
_TOOL_ENV = re.compile(r"^(PYTHON|PIP_)")  # interpreter and installer settings in the Dockerfile, not ours


class _ComposeLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus Compose's `!reset` tag (used by the CPU override file)."""


RESET = object()
_ComposeLoader.add_constructor("!reset", lambda loader, node: RESET)


def load_yaml(path: Path) -> dict[str, Any]:
    return yaml.load(path.read_text(), Loader=_ComposeLoader)  # noqa: S506 - a safe loader subclass


@cache
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE)


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def app_services() -> dict[str, dict[str, Any]]:
    """Services that run this project's image (built from the Dockerfile)."""
    return {name: svc for name, svc in services().items() if "build" in svc}


@cache
def console_scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


@cache
def source_strings() -> frozenset[str]:
    """What the package sources can read from the environment: every string literal in them (`os.environ.get(
    "NAME")`), plus `PREFIX + FIELD` of each pydantic-settings class (`env_prefix="SEARCH_"`, `api_key`)."""
    found: set[str] = set()
    for package in PACKAGES:
        for file in (ROOT / package).rglob("*.py"):
            tree = ast.parse(file.read_text(), filename=str(file))
            found.update(n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str))
            found.update(settings_env_names(tree))
    return frozenset(found)


def settings_env_names(tree: ast.AST) -> set[str]:
    """Environment names of the fields of classes configured with `SettingsConfigDict(env_prefix=...)`."""
    names = set()
    for cls in (n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)):
        prefix = None
        for node in ast.walk(cls):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SettingsConfigDict":
                prefix = next((k.value.value for k in node.keywords if k.arg == "env_prefix"), "")
        if prefix is None:
            continue
        fields = (n.target.id for n in cls.body if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name))
        names.update(f"{prefix}{field}".upper() for field in fields if field != "model_config")
    return names


def command_of(svc: dict[str, Any]) -> list[str]:
    cmd = svc["command"]
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def option(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


def interpolated(value: str) -> list[str]:
    """Names of the variables a Compose value interpolates: `${NAME}`, `${NAME:-default}`, `$NAME`."""
    return re.findall(r"(?<!\$)\$\{?([A-Za-z_][A-Za-z0-9_]*)", value)


def container_port(mapping: str) -> int:
    """`127.0.0.1:8000:8000` -> 8000."""
    return int(str(mapping).split(":")[-1].split("/")[0])


def check_console_command(argv: list[str]) -> None:
    """The console script exists and its parser accepts these arguments (checked with `--help` appended)."""
    scripts = console_scripts()
    assert argv[0] in scripts, f"{argv[0]!r} is not a console script in pyproject.toml: {sorted(scripts)}"
    module, func = scripts[argv[0]].split(":")
    code = f"import sys; from {module} import {func} as main; sys.argv = {argv + ['--help']!r}; sys.exit(main())"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"`{shlex.join(argv)}` is rejected by {module}.{func}:\n{done.stdout}{done.stderr}"


def check_streamlit_command(argv: list[str]) -> None:
    """`streamlit run FILE --a.b value ...`: the file exists and every option is a Streamlit config key."""
    from streamlit import config

    assert argv[:2] == ["streamlit", "run"], argv
    assert (ROOT / argv[2]).is_file(), f"{argv[2]} does not exist"
    for flag in argv[3::2]:
        assert flag.startswith("--"), f"expected --section.option, got {flag!r} in {argv}"
        config.get_option(flag[2:])  # RuntimeError for an unknown key


# ---------------------------------------------------------------- commands


@pytest.mark.parametrize("service", ["ingest", "search", "ui"])
def test_service_runs_this_project(service: str) -> None:
    assert service in app_services(), f"service {service!r} must be built from the Dockerfile"


@pytest.mark.parametrize("service", sorted(app_services()))
def test_service_command_exists(service: str) -> None:
    argv = command_of(services()[service])
    if argv[0] == "streamlit":
        check_streamlit_command(argv)
    else:
        check_console_command(argv)


def test_ingest_worker_watches_the_mounted_folder() -> None:
    argv = command_of(services()["ingest"])
    assert "--watch" in argv
    folder = argv[-1]
    assert folder in [target for _, target in mounts(services()["ingest"])], f"{folder} is not mounted"


# ---------------------------------------------------------------- environment variables


def test_app_environment_variables_are_read_by_the_code() -> None:
    strings = source_strings()
    unknown = {
        f"{service}: {name}"
        for service, svc in app_services().items()
        for name in svc.get("environment", {})
        if name not in strings
    }
    assert not unknown, f"environment variables no code in {PACKAGES} reads: {sorted(unknown)}"


def test_dockerfile_environment_variables_are_read_by_the_code() -> None:
    names = set(re.findall(r"^\s*(?:ENV\s+)?([A-Z][A-Z0-9_]*)=", dockerfile_env_block(), re.M))
    assert names, "no ENV in the Dockerfile"
    unknown = {n for n in names if not _TOOL_ENV.match(n) and n not in source_strings()}
    assert not unknown, f"Dockerfile ENV no code reads: {sorted(unknown)}"


def test_search_service_settings_read_its_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The service itself (not only the CLI client) picks up the SEARCH_* variables compose gives it."""
    from search.service.app import ServiceSettings

    names = [n for n in services()["search"]["environment"] if n.startswith("SEARCH_")]
    assert names
    for name in names:
        monkeypatch.setenv(name, f"value-of-{name}")
    values = set(map(str, ServiceSettings().model_dump().values()))
    assert {f"value-of-{name}" for name in names} <= values


def test_qdrant_and_its_clients_share_one_api_key_variable() -> None:
    server = interpolated(services()["qdrant"]["environment"]["QDRANT__SERVICE__API_KEY"])
    assert server, "the Qdrant server must take its API key from the environment"
    for service, svc in app_services().items():
        if "QDRANT_URL" in svc.get("environment", {}):
            assert interpolated(svc["environment"]["QDRANT_API_KEY"]) == server, service


def test_ingest_and_search_use_the_same_collection_and_model() -> None:
    env = {name: services()[name]["environment"] for name in ("ingest", "search")}
    for key in ("QDRANT_URL", "ECHO_SEARCH_COLLECTION", "ECHO_SEARCH_MODEL"):
        assert env["ingest"].get(key) == env["search"].get(key), key


def test_build_args_are_dockerfile_args() -> None:
    args = set(re.findall(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)", DOCKERFILE.read_text(), re.M))
    for service, svc in app_services().items():
        assert set(svc["build"].get("args", {})) <= args, service


# ---------------------------------------------------------------- ports and URLs


def test_search_port_lines_up() -> None:
    search = services()["search"]
    port = int(option(command_of(search), "--port"))
    assert option(command_of(search), "--host") == "0.0.0.0", "inside a container the service must listen on all"
    assert [container_port(p) for p in search["ports"]] == [port]
    assert f"127.0.0.1:{port}/health" in " ".join(search["healthcheck"]["test"])
    assert "/health" in source_strings(), "the search service has no /health route"
    url = urlsplit(services()["ui"]["environment"]["SEARCH_URL"])
    assert (url.hostname, url.port) == ("search", port)


def test_ui_port_lines_up() -> None:
    ui = services()["ui"]
    port = int(option(command_of(ui), "--server.port"))
    assert option(command_of(ui), "--server.address") == "0.0.0.0"
    assert [container_port(p) for p in ui["ports"]] == [port]
    assert f"127.0.0.1:{port}/_stcore/health" in " ".join(ui["healthcheck"]["test"])


def test_qdrant_url_names_the_qdrant_service() -> None:
    for service, svc in app_services().items():
        if url := svc.get("environment", {}).get("QDRANT_URL"):
            parts = urlsplit(url)
            assert (parts.hostname, parts.port) == ("qdrant", QDRANT_PORT), service
    assert "qdrant" in services()


def test_only_loopback_ports_are_published() -> None:
    assert "ports" not in services()["qdrant"], "Qdrant needs no host port: clients reach it on the compose network"
    for service, svc in services().items():
        for mapping in svc.get("ports", []):
            assert str(mapping).startswith("127.0.0.1:"), f"{service} publishes {mapping} beyond loopback"


# ---------------------------------------------------------------- volumes, health, GPU


def mounts(svc: dict[str, Any]) -> list[tuple[str, str]]:
    """(source, container path) of each short-syntax volume; a source may be a `${VAR:-default}`."""
    out = []
    for entry in svc.get("volumes", []):
        match = re.fullmatch(r"(\$\{[^}]*\}|[^:]+):([^:]+)(?::\w+)?", str(entry))
        assert match, f"cannot read volume {entry!r}"
        out.append((match[1], match[2]))
    return out


def named_volumes(svc: dict[str, Any]) -> dict[str, str]:
    """Named volumes a service mounts: {volume: container path} (bind mounts left out)."""
    return {source: target for source, target in mounts(svc) if not source.startswith((".", "/", "$", "~"))}


def test_volumes_are_declared_and_used() -> None:
    declared = set(compose().get("volumes") or {})
    used = {v for svc in services().values() for v in named_volumes(svc)}
    assert used == declared, f"used {sorted(used)}, declared {sorted(declared)}"


def test_model_cache_volume_is_where_the_code_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    from embedder.settings import EmbedderSettings

    for service in ("ingest", "search"):
        svc = services()[service]
        cache = svc["environment"]["ECHO_SEARCH_CACHE"]
        assert cache in named_volumes(svc).values(), f"{service}: {cache} is not a mounted volume"
        assert cache == dockerfile_env("ECHO_SEARCH_CACHE"), "the image converts the model into another folder"
        monkeypatch.setenv("ECHO_SEARCH_CACHE", cache)
        assert EmbedderSettings().cache_dir() == Path(cache)


def test_default_model_is_converted_into_the_image() -> None:
    from embedder.loading import PACKAGED_MODELS

    preconverted = dockerfile_arg("PRECONVERT_MODEL")
    assert preconverted in PACKAGED_MODELS
    default = re.fullmatch(r"\$\{ECHO_SEARCH_MODEL:-(.+)\}", services()["search"]["environment"]["ECHO_SEARCH_MODEL"])
    assert default and default.group(1) == preconverted


def test_qdrant_storage_is_persistent() -> None:
    assert "/qdrant/storage" in named_volumes(services()["qdrant"]).values()
    image = services()["qdrant"]["image"]
    match = re.fullmatch(r"qdrant/qdrant:v(\d+)\.(\d+)\.(\d+)", image)
    assert match and (int(match[1]), int(match[2])) >= (1, 16), f"pin qdrant/qdrant to a v1.16+ tag, got {image}"


def test_depends_on_waits_for_health() -> None:
    for service, svc in services().items():
        for dep, spec in (svc.get("depends_on") or {}).items():
            assert spec == {"condition": "service_healthy"}, f"{service} -> {dep}"
            assert "healthcheck" in services()[dep], f"{dep} has no healthcheck for {service} to wait on"
    assert {"qdrant", "search", "ui"} <= {n for n, s in services().items() if "healthcheck" in s}


def test_gpu_reservation_and_cpu_override() -> None:
    gpu = {n for n, s in services().items() if s.get("deploy", {}).get("resources", {}).get("reservations")}
    assert "search" in gpu
    for name in gpu:
        devices = services()[name]["deploy"]["resources"]["reservations"]["devices"]
        assert devices and devices[0]["capabilities"] == ["gpu"]
    override = load_yaml(CPU_OVERRIDE)["services"]
    assert {n for n, s in override.items() if s.get("deploy") is RESET} == gpu


# ---------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1] if " " in line.strip() else "")
        for line in (raw.strip() for raw in text.splitlines())
        if line and not line.startswith("#")
    ]


def dockerfile_env_block() -> str:
    return "\n".join(args for op, args in dockerfile_instructions() if op == "ENV").replace(" ", "\n")


def dockerfile_env(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", dockerfile_env_block(), re.M)
    assert match, f"the Dockerfile sets no {name}"
    return match.group(1)


def dockerfile_arg(name: str) -> str:
    match = re.search(rf"^ARG\s+{name}=(\S*)$", DOCKERFILE.read_text(), re.M)
    assert match, f"the Dockerfile has no ARG {name}=..."
    return match.group(1)


def test_dockerfile_base_torch_and_user() -> None:
    ops = dockerfile_instructions()
    assert ops[0] == ("FROM", "python:3.11-slim")
    assert dockerfile_arg("TORCH_INDEX_URL").startswith("https://download.pytorch.org/whl/")
    assert dockerfile_arg("TORCH_VARIANT") == "cpu"
    users = [args for op, args in ops if op == "USER"]
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    assert not any(op == "RUN" and "[dev]" in args for op, args in ops), "no dev dependencies in the image"


def test_dockerfile_copies_existing_paths() -> None:
    for op, args in dockerfile_instructions():
        if op == "COPY":
            *sources, _ = args.split()
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path"


def test_dockerfile_cmd_is_a_console_command() -> None:
    ops = dict(dockerfile_instructions())
    assert "ENTRYPOINT" not in ops, "compose commands replace CMD whole; an ENTRYPOINT would prefix them"
    check_console_command(json.loads(ops["CMD"]))
