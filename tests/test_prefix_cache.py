"""`PrefixCache.forward`: hidden states at any layer, continuing a cached prefix, and never computing the layers
above the deepest one that is read."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModel

from embedder.prefix_cache import PrefixCache
from tests.tiny_model import save_tiny_gemma


@pytest.fixture(scope="module", params=["llama", "gemma"])
def model(request: pytest.FixtureRequest, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    folder = tiny_model_dir if request.param == "llama" else save_tiny_gemma(tmp_path_factory.mktemp("gemma"))
    return AutoModel.from_pretrained(folder, dtype=torch.float32).eval()


@torch.inference_mode()
def test_every_layer_equals_the_models_hidden_states(model) -> None:
    ids = torch.randint(4, 200, (3, 24), generator=torch.Generator().manual_seed(0))
    expected = model(input_ids=ids, output_hidden_states=True).hidden_states
    cache = PrefixCache(model)
    for layers in ((0,), (1,), (2,), (-1,), (1, 2), (0, 1, -1)):
        got = cache.forward(ids, (), layers)
        want = torch.stack([expected[layer] for layer in layers])
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


@torch.inference_mode()
def test_a_cached_prefix_gives_the_same_states(model) -> None:
    ids = torch.randint(4, 200, (2, 30), generator=torch.Generator().manual_seed(1))
    prefix = tuple(ids[0, :10].tolist())
    whole = torch.cat([torch.tensor([prefix] * 2), ids[:, 10:]], dim=1)
    expected = model(input_ids=whole, output_hidden_states=True).hidden_states[1][:, 10:]
    got = PrefixCache(model).forward(ids[:, 10:], prefix, (1,))[0]
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


@torch.inference_mode()
def test_layers_above_the_pooled_one_are_not_run(model) -> None:
    calls = []
    handle = model.layers[-1].register_forward_hook(lambda *_: calls.append(1))
    try:
        cache = PrefixCache(model)
        ids = torch.randint(4, 200, (2, 12))
        cache.forward(ids, (), (1,))
        assert calls == []
        cache.forward(ids, (), (-1,))  # the last layer is read: it runs
        assert calls == [1]
        # the forward stopped early leaves no hook behind: a full forward still returns every hidden state
        assert len(model(input_ids=ids, output_hidden_states=True).hidden_states) == 3
    finally:
        handle.remove()
