"""One thread for all model work in the process.

On CPU, torch runs each operator on an OpenMP thread team that belongs to the calling thread, so every Python
thread that calls into torch brings a team of its own, and on a small machine those teams fight over the same
cores. Measured on 2 cores with the default model: a query embedding takes 93 ms when only one thread ever
runs the model and 150 ms once a second thread has run it (the HTTP service's worker thread after the main
thread loaded the model; Streamlit's script threads). Loading and every forward pass therefore run here,
whichever thread asks.

numpy's OpenBLAS threads are the other contender: after each call they spin, waiting for more work, on the
cores the model needs next. Embedded Qdrant searches with numpy, so a search service alternating search and
embedding measured 153 ms per query embedding with OpenBLAS on 2 threads and 93 ms with it on one;
`keep_blas_off_model_cores` limits OpenBLAS to one thread when the model runs on the CPU.

oneDNN, which runs bf16 matmuls on CPU, keeps a compiled kernel (with its own packed weights) per matrix shape,
in two caches of 1,024 entries. Every new batch shape cost tens of MB: a service's RSS grew by 500 MB over
1,000 queries of varying length. Importing this package bounds both caches (unless the environment already
sets them), which only works before the process's first bf16 matmul.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from threadpoolctl import ThreadpoolController

KERNEL_CACHE_ENTRIES = "64"
os.environ.setdefault("ONEDNN_PRIMITIVE_CACHE_CAPACITY", KERNEL_CACHE_ENTRIES)
os.environ.setdefault("LRU_CACHE_CAPACITY", KERNEL_CACHE_ENTRIES)  # ideep's cache of oneDNN matmuls

P = ParamSpec("P")
T = TypeVar("T")

_local = threading.local()


def _mark_model_thread() -> None:
    _local.is_model_thread = True


_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="echo-search-model", initializer=_mark_model_thread)


def on_model_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call `fn(*args, **kwargs)` on the process's model thread and return its result (or raise its error)."""
    if getattr(_local, "is_model_thread", False):
        return fn(*args, **kwargs)
    return _executor.submit(fn, *args, **kwargs).result()


def keep_blas_off_model_cores() -> None:
    """Run numpy's OpenBLAS on one thread from now on (call when the model runs on the CPU)."""
    ThreadpoolController().select(internal_api="openblas").limit(limits=1)
