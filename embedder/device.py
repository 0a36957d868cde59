"""Pick the device, dtype and batch token budget that suit the machine."""

from __future__ import annotations

import functools
from pathlib import Path

import torch
from transformers import PretrainedConfig

from embedder.errors import ModelOptionError
from embedder.settings import CPU_BATCH_TOKENS, GPU_BATCH_TOKENS

_DTYPES = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}


@functools.cache
def cpu_has_bf16() -> bool:
    """True when the CPU does bf16 matmuls natively (avx512_bf16 or AMX), where bf16 beats fp32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """`device`, else CUDA when present, else CPU; `ModelOptionError` for a name torch does not know."""
    choice = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(choice)
    except RuntimeError as exc:  # torch's verdict on an unknown device type
        raise ModelOptionError(f"unknown device {choice!r}: {exc}") from None


def pick_dtype(device: torch.device, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """`dtype`, else bf16 on CUDA and bf16-capable CPUs, fp32 otherwise."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype:
        try:
            return _DTYPES[dtype.lower()]
        except KeyError:
            raise ModelOptionError(f"unknown dtype {dtype!r}; use one of {', '.join(_DTYPES)}") from None
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()):
        return torch.bfloat16
    return torch.float32


def pick_quantization(quantize: str | None = None) -> str | None:
    """`quantize` ("int8" or "none"), else none. int8 is not the default on any CPU: on a CPU without bf16 it
    measured 1.05-1.32x the fp32 speed (docs/evaluation.md), short of the 1.5x aimed at, and it changes the
    fingerprint, so a collection built on one machine would be refused on another."""
    choice = (quantize or "none").lower()
    if choice not in ("int8", "none"):
        raise ModelOptionError(f"unknown quantization {choice!r}; use 'int8' or 'none'")
    return None if choice == "none" else choice


def default_batch_tokens(device: torch.device) -> int:
    """Padded tokens per forward pass when none is given: small on CPU (cache-friendly), large on a GPU."""
    return GPU_BATCH_TOKENS if device.type == "cuda" else CPU_BATCH_TOKENS


def default_attention(device: torch.device, config: PretrainedConfig) -> str:
    """The attention kernel measured fastest for this device and model: PyTorch's SDPA, except eager attention on
    CUDA for models with sliding-window layers (Gemma-3).

    Under SDPA, transformers hands those layers an explicit mask, which rules out the flash kernel (and grouped
    key/value heads rule out the memory-efficient one), so SDPA falls back to its math kernel. Measured with
    bench/embed.py on an H200 (random weights, 1,000 texts of 20-500 tokens): Gemma-3-270M shape 145k computed
    tokens/s with SDPA, 177k eager; Mistral-7B shape (no sliding window: SDPA runs the flash kernel) 34.7k with SDPA,
    25.4k eager. On CPU SDPA won overall (eager: Gemma-3 +7 %, SmolLM2 -20 %).
    """
    sliding = "sliding_attention" in (getattr(config, "layer_types", None) or ())
    return "eager" if device.type == "cuda" and sliding else "sdpa"
