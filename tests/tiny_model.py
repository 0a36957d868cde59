"""A tiny random causal LM with a byte-level tokenizer, saved as a normal model folder (no download)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

SPECIAL = ["<pad>", "<s>", "</s>", "<unk>"]


def build_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level BPE without merges: every byte is one token, BOS added like Llama/Gemma do."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate(SPECIAL + alphabet)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )


_SHAPE = {
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "max_position_embeddings": 2048, "bos_token_id": 1, "eos_token_id": 2,
    "pad_token_id": 0,
}
"""The shape every tiny test model shares: 2 layers, hidden size 64, the byte tokenizer's special ids."""


def _save(folder: Path, seed: int, model_class: Any, config_class: Any, **extra: Any) -> Path:
    """Write a model of `config_class` with `_SHAPE` (plus `extra`), random weights from `seed` and the byte
    tokenizer into `folder`."""
    tokenizer = build_tokenizer()
    torch.manual_seed(seed)
    model_class(config_class(vocab_size=len(tokenizer), **_SHAPE, **extra)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_model(folder: Path, seed: int = 0, tied: bool = False) -> Path:
    """Write a 2-layer, hidden-64 Llama with random weights and the byte tokenizer into `folder`; `tied`: its LM head
    is its input embedding matrix (as Gemma's and SmolLM2's are), which query-likelihood reranking needs."""
    return _save(folder, seed, LlamaForCausalLM, LlamaConfig, tie_word_embeddings=tied)


def save_tiny_gemma(folder: Path, sliding_window: int = 64, seed: int = 0) -> Path:
    """A 2-layer, hidden-64 Gemma-3 whose layers all attend to the last `sliding_window` positions only."""
    from transformers import Gemma3ForCausalLM, Gemma3TextConfig

    return _save(folder, seed, Gemma3ForCausalLM, Gemma3TextConfig, head_dim=16, sliding_window=sliding_window,
                 layer_types=["sliding_attention", "sliding_attention"])
