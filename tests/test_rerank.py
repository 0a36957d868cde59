"""Query-likelihood reranking (`embedder.rerank`): exact log-probabilities, batching and padding change nothing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from embedder import Embedder, rerank
from embedder.errors import ModelOptionError
from embedder.rerank import PASSAGE_PROMPT
from tests.tiny_model import save_tiny_gemma, save_tiny_model

QUESTION = "how long are backups kept?"
PASSAGES = [
    "Backups are kept for thirty days in the vault, then deleted for good, as the retention policy says.",
    "Coffee is free on every floor.",
    "Log files rotate weekly; " * 30,
]


def _full_vocab(folder: Path, embedder: Embedder, passages: list[str], passage_tokens: int) -> np.ndarray:
    """The same scores from the model with its own LM head over the whole vocabulary, one prompt at a time."""
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    scorer = embedder._scorer
    assert scorer is not None
    out = []
    for pair in scorer.encode(QUESTION, passages, passage_tokens):
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([pair.ids])).logits[0].float(), dim=-1)
        out.append(np.mean([logp[t - 1, pair.ids[t]].item() for t in range(pair.start, pair.end)]))
    return np.array(out)


@pytest.mark.parametrize("slice_rows", [rerank.HEAD_SLICE, 100])  # 100: the normalizer over several slices
@pytest.mark.parametrize("kind", ["llama", "gemma"])
def test_scores_equal_a_full_vocabulary_forward(tmp_path: Path, kind: str, slice_rows: int,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rerank, "HEAD_SLICE", slice_rows)
    folder = save_tiny_model(tmp_path, tied=True) if kind == "llama" else save_tiny_gemma(tmp_path, 512)
    embedder = Embedder.from_pretrained(folder, device="cpu", dtype="float32", layer=1)  # pooling depth is irrelevant
    got = embedder.rerank(QUESTION, PASSAGES, passage_tokens=40)
    assert got.truncated == 2  # the first and the last passage are longer than 40 bytes (one token each)
    np.testing.assert_allclose(got.scores, _full_vocab(folder, embedder, PASSAGES, 40), atol=1e-5)


def test_exact_spans(tied_embedder: Embedder) -> None:
    tied_embedder.rerank(QUESTION, PASSAGES[:1])
    assert tied_embedder._scorer is not None
    (pair,) = tied_embedder._scorer.encode(QUESTION, ["abc"], 3)  # " ab": the space is a byte token
    tokenizer = tied_embedder.tokenizer
    head = PASSAGE_PROMPT.split("{question}")[0].replace("{passage}", "ab")
    assert pair.ids[: pair.start] == tokenizer(head.rstrip(" "))["input_ids"]
    assert pair.ids[pair.start : pair.end] == tokenizer(" " + QUESTION, add_special_tokens=False)["input_ids"]
    assert pair.end == len(pair.ids) and pair.ids[0] == tokenizer.bos_token_id and pair.truncated


def test_batch_equals_one_by_one_and_padding_changes_nothing(tied_embedder: Embedder) -> None:
    together = tied_embedder.rerank(QUESTION, PASSAGES).scores
    alone = [tied_embedder.rerank(QUESTION, [p]).scores[0] for p in PASSAGES]
    np.testing.assert_allclose(together, alone, atol=1e-5)
    shuffled = tied_embedder.rerank(QUESTION, PASSAGES[::-1]).scores  # other rows, other padding
    np.testing.assert_allclose(shuffled[::-1], together, atol=1e-5)


def test_counts_tokens_and_checks_texts(tied_embedder: Embedder) -> None:
    before = tied_embedder.tokens_computed
    out = tied_embedder.rerank(QUESTION, PASSAGES, passage_tokens=16)
    assert out.tokens > 0 and tied_embedder.tokens_computed == before + out.tokens
    assert np.all(out.scores < 0)
    with pytest.raises(ValueError, match="empty"):
        tied_embedder.rerank(QUESTION, ["a passage", " "])


def test_an_untied_head_is_refused(tiny_embedder: Embedder) -> None:
    with pytest.raises(ModelOptionError, match="not tied"):
        tiny_embedder.rerank(QUESTION, PASSAGES)
