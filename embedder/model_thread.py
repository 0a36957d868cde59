"""One thread for all model work in the process, and the process-wide tuning that programs opt into.

On CPU, torch runs each operator on an OpenMP thread team that belongs to the calling thread, so every Python
thread that calls into torch brings a team of its own, and on a small machine those teams fight over the same
cores. Measured on 2 cores with the default model: a query embedding takes 93 ms when only one thread ever
runs the model and 150 ms once a second thread has run it (the HTTP service's worker thread after the main
thread loaded the model; Streamlit's script threads). Loading and every forward pass therefore run on one
thread, started on first use, whichever thread asks.

Importing or using the embedder changes nothing else in the process. What helps a whole program, but is the
program's own decision, is `tune_process`, which the `ingest` and `search` commands and the UI call at start:

- numpy's OpenBLAS threads spin, waiting for more work, on the cores the model needs next. Embedded Qdrant
  searches with numpy, so a search service alternating search and embedding measured 153 ms per query
  embedding with OpenBLAS on 2 threads and 93 ms with it on one.
- oneDNN, which runs bf16 matmuls on CPU, keeps a compiled kernel (with its own packed weights) per matrix
  shape, in two caches of 1,024 entries. Every new batch shape cost tens of MB: a service's RSS grew by 500 MB
  over 1,000 queries of varying length. The caches are sized from the environment, read at the process's
  first bf16 matmul.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, ParamSpec, TypeVar

from threadpoolctl import ThreadpoolController

if TYPE_CHECKING:
    import torch

KERNEL_CACHE_ENTRIES = "64"
KERNEL_CACHE_ENV = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY")  # oneDNN's, ideep's cache of matmuls

P = ParamSpec("P")
T = TypeVar("T")

_local = threading.local()
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def _mark_model_thread() -> None:
    _local.is_model_thread = True


def _model_executor() -> ThreadPoolExecutor:
    global _executor
    with _executor_lock:
        if _executor is None:
            _executor = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix="echo-search-model", initializer=_mark_model_thread
            )
        return _executor


def on_model_thread(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Call `fn(*args, **kwargs)` on the process's model thread and return its result (or raise its error)."""
    if getattr(_local, "is_model_thread", False):
        return fn(*args, **kwargs)
    return _model_executor().submit(fn, *args, **kwargs).result()


def tune_process(device: str | torch.device | None = None, threads: int | None = None, quiet: bool = False) -> None:
    """Tune this whole process for embedding: call once at program start, before the first model forward.

    Bounds oneDNN's kernel caches to 64 entries each (unless the environment sets them) and, when the model runs
    on the CPU (`device`, else the default device: CUDA when present), limits numpy's OpenBLAS to one thread;
    `threads` sets the model thread's CPU threads; `quiet` silences transformers' loading reports and progress bars
    (a command with output of its own). Programs built on the library decide for themselves; the `ingest` and
    `search` commands and the service call this.
    """
    from embedder.device import pick_device

    for name in KERNEL_CACHE_ENV:
        os.environ.setdefault(name, KERNEL_CACHE_ENTRIES)
    if pick_device(device).type == "cpu":
        ThreadpoolController().select(internal_api="openblas").limit(limits=1)
    if threads:
        import torch

        on_model_thread(torch.set_num_threads, threads)
    if quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
