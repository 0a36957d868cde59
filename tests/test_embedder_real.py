"""Integration tests of the embedder with the real packaged models."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from transformers import AutoTokenizer

from embedder import CLASSICAL, DOCUMENT, QUERY, SYMMETRIC, Embedder, Template
from embedder.loading import resolve
from embedder.templates import PromptTokenizer

pytestmark = pytest.mark.slow

TOY = Path(__file__).parents[1] / "search" / "evaluation" / "data" / "toy.jsonl"


def _accuracy(q: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> float:
    return float(np.mean((q * pos).sum(1) > (q * neg).sum(1)))


def test_echo_beats_classical_on_the_toy_set(real_embedder: Embedder) -> None:
    """Where the discriminating words come late, classical (causal) pooling sees them least; echo sees them."""
    rows = [json.loads(line) for line in TOY.read_text().splitlines()]
    scores = {}
    for structure in ("early", "late"):
        subset = [r for r in rows if r["structure"] == structure]
        q, p, n = (real_embedder.encode([r[f] for r in subset], kind="symmetric") for f in
                   ("query", "positive", "negative"))
        scores[structure] = {v: _accuracy(getattr(q, v), getattr(p, v), getattr(n, v)) for v in ("echo", "classical")}
    assert scores["late"]["echo"] > scores["late"]["classical"], scores
    assert scores["early"]["echo"] >= scores["early"]["classical"], scores
    assert scores["late"]["echo"] >= 0.9, scores


def test_retrieval_query_finds_its_document(real_embedder: Embedder) -> None:
    docs = [
        "The Eiffel Tower in Paris was completed in 1889 for the World's Fair.",
        "Photosynthesis lets plants turn sunlight, water and carbon dioxide into sugar.",
        "The central bank raised interest rates by half a point on Tuesday.",
    ]
    questions = ["When was the Eiffel Tower finished?", "How do plants make food from light?",
                 "What did the central bank do with rates?"]
    d = real_embedder.encode(docs, kind="document")
    q = real_embedder.encode(questions, kind="query")
    assert list((q.echo @ d.echo.T).argmax(1)) == [0, 1, 2]
    assert list((q.classical @ d.classical.T).argmax(1)) == [0, 1, 2]


@pytest.fixture(scope="module")
def fp32_embedder() -> Embedder:
    return Embedder.from_pretrained(dtype="float32")


def test_vector_does_not_depend_on_its_batch_fp32(fp32_embedder: Embedder) -> None:
    emb = fp32_embedder
    texts = ["A short text.", "A much longer text that goes on for a while about rivers, mountains and the sea.",
             "Middle length sentence about embeddings."]
    batched = emb.encode(texts, kind="query")
    for i, text in enumerate(texts):
        single = emb.encode([text], kind="query")
        assert float(batched.echo[i] @ single.echo[0]) >= 0.99999
        assert float(batched.classical[i] @ single.classical[0]) >= 0.99999


def test_cached_instruction_prefix_gives_the_uncached_vectors_fp32(fp32_embedder: Embedder) -> None:
    """Also past Gemma's 512-token sliding window: a 500-token query makes a prompt of about 1,020 tokens (with the
    window limit lifted: the embedder itself never builds such an echo prompt)."""
    emb = dataclasses.replace(fp32_embedder)
    emb.reach = None
    texts = ["where is the sea?", " ".join(["rivers run down the mountains to the sea"] * 60)]
    cached = emb.encode(texts, kind="query", with_classical=False)
    emb._prefixes.enabled = False
    try:
        full = emb.encode(texts, kind="query", with_classical=False)
    finally:
        emb._prefixes.enabled = True
    assert cached.tokens < full.tokens
    assert float(np.min((cached.echo * full.echo).sum(1))) >= 0.99999


@pytest.mark.parametrize("kind", ["document", "query"])
def test_pooled_vector_equals_a_plain_forward_over_the_second_copy_fp32(fp32_embedder: Embedder, kind: str) -> None:
    """The reference: one unbatched, uncached, unpadded forward of the prompt, averaged over the last copy of the
    text, whose ids are found independently (the text tokenized after a space, at the end of the prompt). A span
    error shared by every batched path cannot pass this."""
    import torch

    emb = fp32_embedder
    texts = ["Where do rivers meet the sea?", "Qdrant stores named vectors.",
             " ".join(["the river runs down the mountain to the sea"] * 30)]
    batched = emb.encode(texts, kind=kind, with_classical=False)  # type: ignore[arg-type]
    for text, vector in zip(texts, batched.echo, strict=True):
        template = emb.template_for(kind)  # type: ignore[arg-type]
        budget = min(emb.max_text_tokens, emb.echo_text_limit(template) or emb.max_text_tokens)  # the window's cut
        ids = emb.prompt.encode(template, text, budget).ids
        own = list(emb.tokenizer(" " + text, add_special_tokens=False)["input_ids"])[:budget]
        assert ids[-len(own):] == own
        with torch.inference_mode():
            hidden = emb.model(input_ids=torch.tensor([ids]), output_hidden_states=True).hidden_states[emb.layer][0]
        reference = hidden[-len(own):].float().mean(0).numpy()
        reference /= np.linalg.norm(reference)
        assert float(vector @ reference) >= 0.9999


def test_bf16_is_close_to_fp32(real_embedder: Embedder, fp32_embedder: Embedder) -> None:
    emb32 = fp32_embedder
    texts = ["Echo embeddings repeat the input.", "Qdrant stores vectors with payloads."]
    a, b = real_embedder.encode(texts).echo, emb32.encode(texts).echo
    assert np.min((a * b).sum(1)) >= 0.999


@pytest.mark.parametrize("model", ["gemma-3-270m", "smollm2-135m-instruct"])
@pytest.mark.parametrize("template", [DOCUMENT, QUERY, SYMMETRIC, CLASSICAL,
                                      Template("Passage:{text}\nPassage again:{text}</s>", pool_to_end=True)])
@pytest.mark.parametrize("text", ["Hello world.", "naïve café — 東京 🚀", "def f(x):\n    return x**2", "  spaced  "])
def test_pooled_ids_decode_to_the_text(model: str, template: Template, text: str) -> None:
    """Exact spans for real tokenizers (SentencePiece-style Gemma, byte-level BPE SmolLM2)."""
    tokenizer = AutoTokenizer.from_pretrained(resolve(model)[0])
    prompt = PromptTokenizer(tokenizer)
    assert prompt.special_prefix == tokenizer("")["input_ids"]
    enc = prompt.encode(template, text, 512)
    *first, last = enc.spans
    for start, end in first:
        assert tokenizer.decode(enc.ids[start:end]).strip() == text.strip()
    decoded = tokenizer.decode(enc.ids[last[0] : last[1]])
    expected = text + ("</s>" if template.pool_to_end else "")
    assert "".join(decoded.split()) == "".join(expected.split())  # some tokenizers decode "</s>" with a space


def test_gemma_prompt_starts_with_bos() -> None:
    tokenizer = AutoTokenizer.from_pretrained(resolve("gemma-3-270m")[0])
    enc = PromptTokenizer(tokenizer).encode(DOCUMENT, "x", 8)
    assert enc.ids[0] == tokenizer.bos_token_id
    assert enc.ids.count(tokenizer.bos_token_id) == 1


def test_gemma_defaults_window_and_layer(real_embedder: Embedder) -> None:
    """The packaged Gemma pools layer 17 of 18 (chosen on the dev sets, docs/evaluation.md) and keeps every echo
    prompt inside its 512-token sliding window: a 600-token text is cut to what fits, and counted."""
    assert real_embedder.reach == 512 and real_embedder.layer_index == 17
    assert "/layer17" in real_embedder.fingerprint
    text = " ".join(["rivers run down the mountains to the sea"] * 75)
    limit = real_embedder.echo_text_limit(real_embedder.preset.document)
    assert limit == 254
    encs, _, truncated = real_embedder._encode_pieces(real_embedder.preset.document, [text], 512, "", False)
    (first, _), (_, end) = encs[0].spans
    assert truncated == 1 and end - first <= 512 and end - first == 2 * limit + 4
