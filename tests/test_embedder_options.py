"""The attention window, `layer=`, centering and int8 quantization, on tiny random models (fp32, CPU)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from embedder import CLASSICAL, DOCUMENT, QUERY, SYMMETRIC, Embedder
from embedder.centering import Center
from embedder.window import attention_reach, piece_bounds
from search.store import open_collection
from tests.tiny_model import save_tiny_gemma

WINDOW = 64
LONG = "The river carries stones from the hills down to the plain, and the town grows by the water. " * 3


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_gemma(tmp_path_factory.mktemp("tiny-gemma"), sliding_window=WINDOW)


@pytest.fixture(scope="module")
def windowed(gemma_dir: Path) -> Embedder:
    return Embedder.from_pretrained(gemma_dir, device="cpu", dtype="float32", long_texts="split")


def test_reach_comes_from_the_sliding_window() -> None:
    from transformers import Gemma3TextConfig, LlamaConfig, Qwen2Config

    assert attention_reach(Gemma3TextConfig(sliding_window=512, num_hidden_layers=6)) == 512
    assert attention_reach(LlamaConfig()) is None
    assert attention_reach(Qwen2Config(use_sliding_window=False, sliding_window=4096)) is None


def test_piece_bounds_cover_the_text_in_near_equal_pieces() -> None:
    assert piece_bounds(10, 10) == [(0, 10)]
    assert piece_bounds(11, 10) == [(0, 6), (6, 11)]
    bounds = piece_bounds(1000, 254)
    assert bounds[0][0] == 0 and bounds[-1][1] == 1000 and len(bounds) == 4
    assert all(b - a <= 254 for a, b in bounds)
    assert all(end == start for (_, end), (start, _) in zip(bounds, bounds[1:], strict=False))


@pytest.mark.parametrize("long_texts", ["cut", "split"])
@pytest.mark.parametrize("template", [DOCUMENT, QUERY, SYMMETRIC])
@pytest.mark.parametrize("halve", [False, True])
def test_no_echo_span_outlives_its_first_copy(windowed: Embedder, template, long_texts: str, halve: bool) -> None:  # noqa: ANN001
    """The last pooled token of every echo prompt still attends to the first token of its first copy."""
    emb = dataclasses.replace(windowed, long_texts=long_texts)
    assert emb.reach == WINDOW
    texts = ["short", LONG, LONG[:40], "x" * 5000]
    encs, owners, truncated = emb._encode_pieces(template, texts, 512, "Find it", compute_matched=halve)
    assert sorted(set(owners)) == [0, 1, 2, 3]
    for enc in encs:
        (first, _), *_, (_, end) = enc.spans
        assert (end - 1) - first < WINDOW
    if long_texts == "cut":
        limit = emb.echo_text_limit(template, "Find it")
        wanted = [len(emb.prompt.text_ids(t, leading_space=True)) for t in texts]
        assert owners == [0, 1, 2, 3]
        assert truncated == sum(((n + 1) // 2 if halve else n) > limit for n in wanted)


def test_split_pieces_cover_the_text(windowed: Embedder) -> None:
    texts = ["short", LONG]
    encs, owners, truncated = windowed._encode_pieces(DOCUMENT, texts, 512, "", compute_matched=False)
    assert truncated == 0
    assert owners.count(1) > 1  # the long text was split, not silently cut
    pooled = [e.ids[e.spans[-1][0] : e.spans[-1][1]] for e, o in zip(encs, owners, strict=True) if o == 1]
    pieces = [windowed.tokenizer.decode(ids) for ids in pooled]
    assert "".join("".join(p.split()) for p in pieces) == "".join(LONG.split())


def test_a_long_text_is_the_token_weighted_mean_of_its_pieces(windowed: Embedder) -> None:
    """Pieces are pooled as if their second copies were one span: a plain forward per piece, summed."""
    assert windowed.long_texts == "split"
    out = windowed.encode([LONG], kind="document", with_classical=False)
    encs, _, truncated = windowed._encode_pieces(DOCUMENT, [LONG], 512, "", compute_matched=False)
    assert truncated == 0 and len(encs) >= 3
    total = torch.zeros(windowed.dim)
    with torch.inference_mode():
        for enc in encs:
            hidden = windowed.model(input_ids=torch.tensor([enc.ids])).last_hidden_state[0]
            start, end = enc.spans[-1]
            total += hidden[start:end].sum(0)
    reference = (total / total.norm()).numpy()
    assert float(out.echo[0] @ reference) >= 0.99999


def test_cut_is_the_default_and_is_fingerprinted(gemma_dir: Path, windowed: Embedder) -> None:
    cut = Embedder.from_pretrained(gemma_dir, device="cpu", dtype="float32", classical="separate")
    assert cut.long_texts == "cut" and cut.fingerprint != windowed.fingerprint
    limit = cut.echo_text_limit(cut.preset.document)
    out = cut.encode([LONG, "short"], kind="document")
    assert out.truncated == 1
    assert cut.prompt_tokens(LONG, "document") == len(cut.prompt.encode(DOCUMENT, LONG, limit).ids)
    classical = cut.embed([LONG], CLASSICAL)  # the classical pass keeps the whole budget
    np.testing.assert_allclose(out.classical[:1], classical, atol=1e-6)
    assert float(out.classical[0] @ cut.embed([LONG[:limit]], CLASSICAL)[0]) < 0.9999


def test_first_span_classical_sees_the_cut_text(gemma_dir: Path) -> None:
    """The default classical vector is the echo pass's first copy, so a long text's is cut like its echo."""
    emb = Embedder.from_pretrained(gemma_dir, device="cpu", dtype="float32")
    assert emb.classical_mode == "first_span"
    prompt = emb.classical_prompt("document")
    assert prompt is not None
    out = emb.encode([LONG], kind="document")
    limit = emb.echo_text_limit(emb.preset.document)
    np.testing.assert_allclose(out.classical, emb.embed([LONG], prompt, max_text_tokens=limit), atol=1e-5)


def test_budget_still_cuts_and_counts(gemma_dir: Path) -> None:
    small = Embedder.from_pretrained(gemma_dir, device="cpu", dtype="float32", max_text_tokens=30, long_texts="split")
    out = small.encode([LONG, "short"], kind="document")
    assert out.truncated == 1
    assert small.prompt_tokens(LONG, "document") > small.prompt_tokens("short", "document")


def test_ingest_warns_about_chunks_past_the_window(windowed: Embedder, tiny_embedder: Embedder) -> None:
    from ingest.chunking import window_warning

    limit = windowed.echo_text_limit(windowed.preset.document)
    assert limit is not None and limit < WINDOW // 2
    assert window_warning(limit, windowed) is None
    message = window_warning(limit + 1, windowed)
    assert message is not None and str(WINDOW) in message and str(limit) in message
    assert window_warning(10_000, tiny_embedder) is None  # no sliding window: nothing to warn about


@pytest.mark.parametrize("layer", [0, 1, -2])
@pytest.mark.parametrize("kind", ["document", "query"])
def test_layer_pools_that_hidden_state(tiny_model_dir: Path, layer: int, kind: str) -> None:
    """Against a direct forward's hidden state, averaged over the second copy (the query path uses the cached
    instruction prefix, the document path a plain forward)."""
    emb = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32", layer=layer)
    texts = ["Where do rivers meet the sea?", "Stones roll down the hill."]
    out = emb.encode(texts, kind=kind)  # type: ignore[arg-type]
    for text, vector in zip(texts, out.echo, strict=True):
        enc = emb.prompt.encode(emb.template_for(kind), text, emb.max_text_tokens)  # type: ignore[arg-type]
        with torch.inference_mode():
            states = emb.model(input_ids=torch.tensor([enc.ids]), output_hidden_states=True).hidden_states
        start, end = enc.spans[-1]
        reference = states[layer][0, start:end].mean(0).numpy()
        assert float(vector @ reference / np.linalg.norm(reference)) >= 0.99999
    assert emb.layer_index == layer % 3


def test_last_layer_is_the_default_and_layers_change_the_fingerprint(tiny_model_dir: Path) -> None:
    default = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32")
    last = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32", layer=2)
    middle = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32", layer=1)
    assert default.fingerprint == last.fingerprint != middle.fingerprint
    assert "/layer1/" in middle.fingerprint
    np.testing.assert_allclose(default.encode(["a b c"]).echo, last.encode(["a b c"]).echo, atol=1e-6)
    layers = default.embed_layers(["a b c", "d e"], SYMMETRIC, [1, -1])
    np.testing.assert_allclose(layers[0], middle.embed(["a b c", "d e"], SYMMETRIC), atol=1e-6)
    with pytest.raises(ValueError, match="layer"):
        Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32", layer=3)


def test_centering_subtracts_the_corpus_mean(tiny_embedder: Embedder) -> None:
    corpus = ["The cat sat.", "Rivers run to the sea.", "Stocks fell on Monday.", "A quiet night."]
    centered = tiny_embedder.fit_center(corpus)
    plain = tiny_embedder.encode(corpus)
    out = centered.encode(corpus)
    for name in ("echo", "classical"):
        mean = getattr(plain, name).mean(0)
        expected = getattr(plain, name) - mean
        expected /= np.linalg.norm(expected, axis=1, keepdims=True)
        np.testing.assert_allclose(getattr(out, name), expected, atol=1e-5)
        np.testing.assert_allclose(np.linalg.norm(getattr(out, name), axis=1), 1.0, rtol=1e-5)
    assert centered.fingerprint != tiny_embedder.fingerprint and "/centered-" in centered.fingerprint


def test_centering_is_stored_with_the_collection(tmp_path: Path, tiny_embedder: Embedder, tiny_model_dir: Path) -> None:
    """A collection made by a centered embedder records its means; only an embedder rebuilt from them matches."""
    from ingest.options import IngestOptions
    from ingest.pipeline import ingest_paths
    from search.store import FingerprintMismatchError

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Rivers carry stones to the sea.")
    (docs / "b.txt").write_text("The market closed higher on Friday.")
    centered = tiny_embedder.fit_center(["Rivers carry stones.", "Markets close.", "Cats sleep."])
    store = open_collection(path=tmp_path / "q")
    try:
        ingest_paths(IngestOptions(paths=[docs]), store, centered)
        stored = store.metadata()["embedder"]
        with pytest.raises(FingerprintMismatchError):
            store.check_fingerprint(tiny_embedder.fingerprint)
        rebuilt = Embedder.from_pretrained(tiny_model_dir, device="cpu", dtype="float32",
                                           center=Center.from_description(stored))
        assert rebuilt.fingerprint == centered.fingerprint == store.fingerprint()
        np.testing.assert_allclose(rebuilt.encode(["x y"]).echo, centered.encode(["x y"]).echo, atol=1e-6)
    finally:
        store.close()


def test_int8_quantization_is_close_and_fingerprinted(gemma_dir: Path) -> None:
    plain = Embedder.from_pretrained(gemma_dir, device="cpu", dtype="float32")
    int8 = Embedder.from_pretrained(gemma_dir, device="cpu", dtype="float32", quantize="int8")
    assert int8.quantization == "int8" and plain.quantization is None
    assert int8.fingerprint != plain.fingerprint and int8.describe()["quantization"] == "int8"
    texts = ["hello there friend", LONG]
    assert float(np.min((plain.encode(texts).echo * int8.encode(texts).echo).sum(1))) >= 0.99
    with pytest.raises(ValueError, match="float32"):
        Embedder.from_pretrained(gemma_dir, device="cpu", dtype="bfloat16", quantize="int8")
    with pytest.raises(ValueError, match="quantization"):
        Embedder.from_pretrained(gemma_dir, device="cpu", dtype="float32", quantize="int4")
