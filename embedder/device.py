"""Pick the device, dtype and batch token budget that suit the machine."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

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
    """`device`, else `$ECHO_SEARCH_DEVICE`, else CUDA when present, else CPU."""
    choice = device or os.environ.get("ECHO_SEARCH_DEVICE") or ("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(choice)


def pick_dtype(device: torch.device, dtype: str | torch.dtype | None = None) -> torch.dtype:
    """`dtype`, else `$ECHO_SEARCH_DTYPE`, else bf16 on CUDA and bf16-capable CPUs, fp32 otherwise."""
    choice = dtype or os.environ.get("ECHO_SEARCH_DTYPE")
    if isinstance(choice, torch.dtype):
        return choice
    if choice:
        try:
            return _DTYPES[choice.lower()]
        except KeyError:
            raise ValueError(f"unknown dtype {choice!r}; use one of {', '.join(_DTYPES)}") from None
    if device.type == "cuda" or (device.type == "cpu" and cpu_has_bf16()):
        return torch.bfloat16
    return torch.float32


def default_batch_tokens(device: torch.device) -> int:
    """Padded tokens per forward pass: small on CPU (cache-friendly), large on a GPU."""
    if env := os.environ.get("ECHO_SEARCH_BATCH_TOKENS"):
        return int(env)
    return 65536 if device.type == "cuda" else 4096
