"""Key/value states of a prompt prefix that many texts share, computed once and reused by every batch.

Every query prompt starts with the same `<bos>Instruct: {instruction}\\nQuery:` (16 tokens with the default
instruction, about a third of a short query's echo prompt). Its keys and values do not depend on the text
that follows (causal attention), so they are computed once per instruction and each batch runs only the
tokens after them. Prefixes shorter than `MIN_PREFIX_TOKENS` (`<bos>Document:`) are not worth the extra pass.
"""

from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, cast

import torch
from transformers import DynamicCache, PreTrainedModel

from embedder.templates import Encoded

MIN_PREFIX_TOKENS = 8

Prefix = tuple[int, ...]


class _Reached(Exception):
    """Raised by a forward hook once the deepest layer that is read has run, to end the forward there."""


class PrefixCache:
    """Runs forward passes that continue a cached prefix; remembers the last `size` prefixes."""

    def __init__(self, model: PreTrainedModel, size: int = 16) -> None:
        self.model = model
        self.size = size
        self._states: OrderedDict[Prefix, list[tuple[torch.Tensor, torch.Tensor]]] = OrderedDict()
        params = inspect.signature(model.forward).parameters
        self._cache_arg = "cache" if "cache" in params else "past_key_values"
        self.enabled = self._cache_arg in params
        """False for models that take no cache (such as the bidirectional evaluation wrapper)."""

    def prefix_of(self, encoded: Encoded) -> Prefix:
        """The ids before the first `{text}` span when worth caching, else `()`."""
        start = encoded.spans[0][0]
        return tuple(encoded.ids[:start]) if self.enabled and start >= MIN_PREFIX_TOKENS else ()

    def forward(self, ids: torch.Tensor, prefix: Prefix, layers: tuple[int, ...] = (-1,)) -> torch.Tensor:
        """Hidden states of `ids` (rows of tokens that follow `prefix`) at `layers` (indices into the model's
        hidden states: 0 the embeddings, -1 the last layer's), shape (len(layers), rows, len, hidden)."""
        last = int(self.model.config.num_hidden_layers)
        wanted = [layer % (last + 1) for layer in layers]
        kwargs: dict[str, Any] = {}
        if prefix:
            cache = DynamicCache(config=self.model.config)
            for layer, (keys, values) in enumerate(self._prefix_states(prefix, ids.device)):
                cache.update(keys.expand(ids.shape[0], -1, -1, -1), values.expand(ids.shape[0], -1, -1, -1), layer)
            kwargs.update({"use_cache": True, self._cache_arg: cache})
        if wanted == [last] * len(wanted):
            return self.model(input_ids=ids, **kwargs).last_hidden_state[None].expand(len(wanted), -1, -1, -1)
        blocks = self._decoder_layers()
        if blocks is not None and all(1 <= layer < last for layer in wanted):
            return self._forward_until(blocks, ids, wanted, kwargs)
        out = self.model(input_ids=ids, output_hidden_states=True, **kwargs)
        return torch.stack([out.hidden_states[layer] for layer in wanted])

    def _decoder_layers(self) -> torch.nn.ModuleList | None:
        """The model's decoder layers in order (`model.layers` of a transformers base model), else None."""
        blocks = getattr(self.model, "layers", None)
        count = int(self.model.config.num_hidden_layers)
        return blocks if isinstance(blocks, torch.nn.ModuleList) and len(blocks) == count else None

    def _forward_until(
        self, blocks: torch.nn.ModuleList, ids: torch.Tensor, wanted: list[int], kwargs: dict[str, Any]
    ) -> torch.Tensor:
        """The outputs of decoder layers `wanted` (1-based, all below the last), from a forward pass that stops
        after the deepest of them: the layers above it, whose output nobody reads, are never computed."""
        outputs: dict[int, torch.Tensor] = {}
        deepest = max(wanted)

        def keep(number: int) -> Callable[[torch.nn.Module, Any, Any], None]:
            def hook(_: torch.nn.Module, __: Any, output: Any) -> None:
                outputs[number] = output[0] if isinstance(output, tuple) else output
                if number == deepest:
                    raise _Reached

            return hook

        handles = [blocks[number - 1].register_forward_hook(keep(number)) for number in sorted(set(wanted))]
        try:
            self.model(input_ids=ids, **kwargs)
        except _Reached:
            pass
        finally:
            for handle in handles:
                handle.remove()
        return torch.stack([outputs[layer] for layer in wanted])

    def _prefix_states(self, prefix: Prefix, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if prefix not in self._states:
            cache = DynamicCache(config=self.model.config)
            self.model(input_ids=torch.tensor([prefix], device=device), use_cache=True, **{self._cache_arg: cache})
            layers = cast(list[Any], cache.layers)  # attention layers: each holds .keys and .values
            self._states[prefix] = [(layer.keys, layer.values) for layer in layers]
            while len(self._states) > self.size:
                self._states.popitem(last=False)
        self._states.move_to_end(prefix)
        return self._states[prefix]
