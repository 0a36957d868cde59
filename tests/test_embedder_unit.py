"""Fast unit tests of the embedder on a tiny random causal LM."""

from __future__ import annotations

import numpy as np
import pytest

from embedder import CLASSICAL, DOCUMENT, PROMPT_EOL, QUERY, SYMMETRIC, Embedder, ModelNotFoundError, Template
from embedder.batching import plan_batches
from embedder.templates import PromptTokenizer

TEXTS = [
    "The cat sat on the mat.",
    "Quantum computers use qubits that can be in superposition.",
    "A short one.",
    "Rivers flow downhill to the sea, carrying sediment from the mountains to the plains below.",
]


def test_encode_shapes_and_norms(tiny_embedder: Embedder) -> None:
    out = tiny_embedder.encode(TEXTS, kind="document")
    assert out.echo.shape == (4, tiny_embedder.dim) == out.classical.shape
    assert out.echo.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(out.echo, axis=1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(out.classical, axis=1), 1.0, rtol=1e-5)
    assert out.truncated == 0


@pytest.mark.parametrize("kind", ["document", "query", "symmetric"])
def test_batch_does_not_change_a_vector(tiny_embedder: Embedder, kind: str) -> None:
    batched = tiny_embedder.encode(TEXTS, kind=kind)
    for i, text in enumerate(TEXTS):
        single = tiny_embedder.encode([text], kind=kind)
        assert float(batched.echo[i] @ single.echo[0]) >= 0.99999
        assert float(batched.classical[i] @ single.classical[0]) >= 0.99999


def test_input_order_is_restored(tiny_embedder: Embedder) -> None:
    forward = tiny_embedder.encode(TEXTS).echo
    backward = tiny_embedder.encode(TEXTS[::-1]).echo
    np.testing.assert_allclose(forward, backward[::-1], atol=1e-5)


def test_kinds_differ_and_instruction_matters(tiny_embedder: Embedder) -> None:
    doc = tiny_embedder.encode(TEXTS[:1], kind="document").echo[0]
    query = tiny_embedder.encode(TEXTS[:1], kind="query").echo[0]
    other = tiny_embedder.encode(TEXTS[:1], kind="query", instruction="Find a recipe").echo[0]
    assert float(doc @ query) < 0.99999
    assert float(query @ other) < 0.99999


def test_classical_is_the_same_pass_for_every_kind(tiny_embedder: Embedder) -> None:
    """The fair baseline: queries and documents get the same classical context."""
    doc = tiny_embedder.encode(TEXTS, kind="document").classical
    query = tiny_embedder.encode(TEXTS, kind="query").classical
    np.testing.assert_allclose(doc, query, atol=1e-6)


@pytest.mark.parametrize("bad", [[""], ["   \n"], ["ok", None], ["ok", 3]])
def test_bad_input_names_the_index(tiny_embedder: Embedder, bad: list) -> None:
    index = len(bad) - 1
    with pytest.raises(ValueError, match=rf"texts\[{index}\]"):
        tiny_embedder.encode(bad)


def test_single_string_is_refused(tiny_embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="list"):
        tiny_embedder.encode("a string")  # type: ignore[arg-type]


def test_over_long_text_is_truncated_and_counted(tiny_model_dir) -> None:
    emb = Embedder.from_pretrained(tiny_model_dir, dtype="float32", max_text_tokens=16)
    out = emb.encode(["x" * 100, "short"])
    assert out.truncated == 1
    assert out.echo.shape[0] == 2


def test_unknown_model_offline_says_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError, match="local path"):
        Embedder.from_pretrained("no-such-org/no-such-model-xyz", allow_download=False)


def test_unknown_kind(tiny_embedder: Embedder) -> None:
    with pytest.raises(ValueError, match="kind"):
        tiny_embedder.encode(["x"], kind="passage")  # type: ignore[arg-type]


def test_first_span_classical_sees_the_same_prefix_on_both_sides(tiny_model_dir) -> None:
    emb = Embedder.from_pretrained(tiny_model_dir, dtype="float32", classical="first_span")
    out = emb.encode(TEXTS, kind="symmetric")
    assert out.classical is not None and out.classical.shape == out.echo.shape
    # A document's classical vector is the first copy of its echo pass: equal to a pass of "Document: {text}" alone
    # (causal attention), which is what a query's classical vector is made from, so the two compare fairly.
    document = emb.encode(TEXTS, kind="document")
    query = emb.encode(TEXTS, kind="query")
    alone = emb.embed(TEXTS, Template(emb.preset.document.prefix() + "{text}"))
    assert document.classical is not None and query.classical is not None
    np.testing.assert_allclose(document.classical, alone, atol=1e-5)
    np.testing.assert_allclose(query.classical, alone, atol=1e-5)
    separate = Embedder.from_pretrained(tiny_model_dir, dtype="float32", classical="separate")  # a third copy
    assert document.tokens < separate.encode(TEXTS, kind="document").tokens
    shared = Embedder.from_pretrained(
        tiny_model_dir,
        dtype="float32",
        classical="first_span",
        query_template="Passage: {text}\nInstruct: {instruction}\nPassage again: {text}",
        document_template="Passage: {text}\nPassage again: {text}",
    )
    # Both templates start with the same "Passage: {text}" span: a query's classical vector comes from the first copy
    # of its own echo pass, and equals a document's of the same text.
    query_vectors = shared.encode(TEXTS, kind="query").classical
    document_vectors = shared.encode(TEXTS, kind="document").classical
    assert query_vectors is not None and document_vectors is not None
    np.testing.assert_allclose(query_vectors, document_vectors, atol=1e-5)


def test_classical_none(tiny_model_dir) -> None:
    emb = Embedder.from_pretrained(tiny_model_dir, dtype="float32", classical="none")
    assert emb.encode(TEXTS).classical is None


def test_fingerprint_is_stable_and_sensitive(tiny_model_dir) -> None:
    a = Embedder.from_pretrained(tiny_model_dir, dtype="float32")
    b = Embedder.from_pretrained(tiny_model_dir, dtype="float32")
    c = Embedder.from_pretrained(tiny_model_dir, dtype="float32", pooling="last")
    d = Embedder.from_pretrained(tiny_model_dir, dtype="float32", compute_matched=True)
    e = Embedder.from_pretrained(tiny_model_dir, dtype="float32", document_template="Doc: {text}\nAgain: {text}")
    assert a.fingerprint == b.fingerprint
    assert len({a.fingerprint, c.fingerprint, d.fingerprint, e.fingerprint}) == 4


def test_compute_matched_halves_each_text(tiny_model_dir) -> None:
    emb = Embedder.from_pretrained(tiny_model_dir, dtype="float32", compute_matched=True)
    enc = emb.prompt.encode(emb.preset.document, "abcdefghij", 512, compute_matched=True)
    assert [emb.tokenizer.decode(enc.ids[s:e]).strip() for s, e in enc.spans] == ["abcde", "abcde"]
    full = Embedder.from_pretrained(tiny_model_dir, dtype="float32")
    out, ref = emb.encode(["abcdefghij"]), full.encode(["abcdefghij"])
    assert out.truncated == 0
    assert out.tokens < ref.tokens


def test_embed_low_level_promptEOL_and_last_pooling(tiny_embedder: Embedder) -> None:
    eol = tiny_embedder.embed(TEXTS, PROMPT_EOL, pooling="last")
    assert eol.shape == (4, tiny_embedder.dim)
    first = tiny_embedder.embed(TEXTS, SYMMETRIC, span="first")
    last = tiny_embedder.embed(TEXTS, SYMMETRIC, span="last")
    assert not np.allclose(first, last)


def test_template_needs_text_slots() -> None:
    with pytest.raises(ValueError, match="slot"):
        Template("no slot here")
    with pytest.raises(ValueError, match="slot"):
        Template("{text} {text} {text}")


@pytest.mark.parametrize("template", [DOCUMENT, QUERY, SYMMETRIC, CLASSICAL])
@pytest.mark.parametrize("text", ["Hello world.", "naïve café — 東京", "  leading and trailing  ", "a\nb"])
def test_spans_decode_back_to_the_text(tiny_embedder: Embedder, template: Template, text: str) -> None:
    enc = tiny_embedder.prompt.encode(template, text, 512)
    assert enc.ids[: len(tiny_embedder.prompt.special_prefix)] == tiny_embedder.prompt.special_prefix
    for start, end in enc.spans:
        assert tiny_embedder.tokenizer.decode(enc.ids[start:end]).strip() == text.strip()


def test_bos_comes_from_the_tokenizer_itself(tiny_embedder: Embedder) -> None:
    prompt = PromptTokenizer(tiny_embedder.tokenizer)
    assert prompt.special_prefix == [tiny_embedder.tokenizer.bos_token_id]


def test_plan_batches_respects_budget_and_covers_all() -> None:
    lengths = [5, 300, 40, 41, 39, 250, 7, 300, 120]
    batches = plan_batches(lengths, batch_tokens=600)
    assert sorted(i for b in batches for i in b) == list(range(len(lengths)))
    for b in batches:
        assert max(lengths[i] for i in b) * len(b) <= 600 or len(b) == 1


def test_plan_batches_keeps_padding_small_under_a_large_budget() -> None:
    """A few hundred mixed lengths under a GPU's budget: batches end where rows would pad much (was 20 %)."""
    rng = np.random.default_rng(0)
    texts = rng.integers(20, 501, size=300)
    lengths = [2 * n + 8 for n in texts] + [n + 6 for n in texts]  # echo and classical prompts
    batches = plan_batches(lengths, batch_tokens=65536)
    padded = sum(max(lengths[i] for i in b) * len(b) for b in batches)
    assert (padded - sum(lengths)) / padded <= 0.10
    assert all(max(lengths[i] for i in b) * len(b) <= 65536 for b in batches)


def test_encode_many_spans_hold_each_texts_own_tokens(tiny_embedder: Embedder) -> None:
    prompt = PromptTokenizer(tiny_embedder.tokenizer)
    texts = ["a short one", "  leading spaces and a longer text that gets cut " * 3, "é ü 漢字"]
    for compute_matched in (False, True):
        many = prompt.encode_many(DOCUMENT, texts, 40, compute_matched=compute_matched)
        assert [e.truncated for e in many] == [False, True, False]
        for enc, text in zip(many, texts, strict=True):
            own = prompt.text_ids(text, leading_space=True)  # each slot follows "...: "
            keep = min(40, (len(own) + 1) // 2 if compute_matched else len(own))
            assert [enc.ids[s:e] for s, e in enc.spans] == [own[:keep]] * 2


def test_padding_is_small_on_mixed_lengths(tiny_embedder: Embedder) -> None:
    rng = np.random.default_rng(0)
    words = ["alpha", "beta", "gamma", "delta", "river", "stone", "cloud"]
    texts = [" ".join(rng.choice(words, size=int(n))) for n in rng.integers(4, 60, size=200)]
    out = tiny_embedder.encode(texts)
    assert out.padded_tokens / out.tokens <= 0.10


def test_instruction_prefix_is_computed_once_and_changes_nothing(tiny_embedder: Embedder) -> None:
    prefix = tiny_embedder._prefixes
    cached = tiny_embedder.encode(TEXTS, kind="query", instruction="Find the passage")
    prefix.enabled = False
    try:
        full = tiny_embedder.encode(TEXTS, kind="query", instruction="Find the passage")
    finally:
        prefix.enabled = True
    np.testing.assert_allclose(cached.echo, full.echo, atol=1e-5)
    np.testing.assert_allclose(cached.classical, full.classical, atol=1e-6)
    one = tiny_embedder.encode(TEXTS[:1], kind="query", instruction="Find the passage", with_classical=False)
    prompt = tiny_embedder.prompt.encode(tiny_embedder.preset.query, TEXTS[0], 512, "Find the passage")
    assert one.tokens == len(prompt.ids) - prompt.spans[0][0]


def test_without_classical_skips_its_pass(tiny_embedder: Embedder) -> None:
    both = tiny_embedder.encode(TEXTS, kind="query")
    echo_only = tiny_embedder.encode(TEXTS, kind="query", with_classical=False)
    assert echo_only.classical is None
    np.testing.assert_allclose(echo_only.echo, both.echo, atol=1e-6)
    assert echo_only.tokens < both.tokens


def test_attention_default_follows_device_and_model(tiny_model_dir) -> None:  # noqa: ANN001
    """Eager attention on CUDA for sliding-window models (SDPA falls back to its math kernel there), else SDPA."""
    import torch
    from transformers import Gemma3TextConfig, LlamaConfig

    from embedder.device import default_attention

    gemma, llama = Gemma3TextConfig(num_hidden_layers=6), LlamaConfig()
    assert default_attention(torch.device("cuda"), gemma) == "eager"
    assert default_attention(torch.device("cuda"), llama) == "sdpa"
    assert default_attention(torch.device("cpu"), gemma) == "sdpa"
    eager = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32", attn_implementation="eager")
    assert eager.model.config._attn_implementation == "eager"
    default = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32")
    assert default.model.config._attn_implementation == "sdpa"
    np.testing.assert_allclose(eager.encode(TEXTS).echo, default.encode(TEXTS).echo, atol=1e-5)
