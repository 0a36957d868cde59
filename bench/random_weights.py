"""Models with random weights built from a config, for speed benchmarks of shapes whose weights are not here.

    python bench/random_weights.py --shape gemma-3-270m --out /tmp/random-gemma [--tokenizer DIR]

Speed does not depend on the values of the weights, and a 7B model's weights do not fit in the working tree
that travels to a GPU machine, so the GPU benchmarks build the model from its config with random weights. Shapes
are the configs in bench/configs/ (`gemma-3-270m`: the packaged default model's own config; `mistral-7b`: the
Mistral-7B architecture of the released echo checkpoints) or the path of any config.json.

The tokenizer is a real one (default: the packaged model's), so prompts have real token counts. A shape whose
vocabulary is smaller than the tokenizer's is widened to it: that changes only the embedding table, a lookup
that costs no FLOPs. `--out` saves model and tokenizer as an ordinary model folder that `--model` accepts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import torch
from transformers import AutoConfig, AutoModel, AutoTokenizer, PretrainedConfig, PreTrainedModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from embedder import Embedder  # noqa: E402
from embedder.device import default_attention, default_batch_tokens  # noqa: E402
from embedder.loading import resolve  # noqa: E402
from embedder.presets import preset_for  # noqa: E402
from embedder.templates import PromptTokenizer  # noqa: E402

CONFIGS = Path(__file__).resolve().with_name("configs")
SHAPES = sorted(p.stem for p in CONFIGS.glob("*.json"))

RANDOM_NOTE = "random weights (speed only: it does not depend on weight values)"


def load_config(shape: str, vocab_size: int) -> PretrainedConfig:
    """The config of a named shape or a config.json path, its vocabulary widened to `vocab_size` if smaller."""
    path = CONFIGS / f"{shape}.json" if shape in SHAPES else Path(shape)
    if not path.is_file():
        raise SystemExit(f"unknown shape {shape!r}: use one of {', '.join(SHAPES)} or a config.json path")
    raw = json.loads(path.read_text())
    raw["vocab_size"] = max(int(raw["vocab_size"]), vocab_size)
    model_type = raw.pop("model_type")
    return AutoConfig.for_model(model_type, **raw)


def build(
    shape: str,
    tokenizer_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    attn_implementation: str | None = None,
) -> tuple[PreTrainedModel, PromptTokenizer, str]:
    """A randomly initialised base model (no LM head) of `shape`, made directly on `device`, and its tokenizer."""
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir or resolve(None)[0])
    config = load_config(shape, len(tokenizer))
    torch.manual_seed(0)
    attn = attn_implementation or default_attention(torch.device(device), config)
    with torch.device(device):
        model = AutoModel.from_config(config, dtype=dtype, attn_implementation=attn)
    model.eval().requires_grad_(False)
    return model, PromptTokenizer(tokenizer), f"random-{Path(shape).stem}"


def random_embedder(
    shape: str,
    tokenizer_dir: str | os.PathLike[str] | None = None,
    device: str = "cpu",
    dtype: torch.dtype = torch.bfloat16,
    batch_tokens: int | None = None,
    attn_implementation: str | None = None,
) -> Embedder:
    """An `Embedder` over a random-weight model of `shape` (zero-shot templates, mean pooling)."""
    model, prompt, name = build(shape, tokenizer_dir, device, dtype, attn_implementation)
    dev = torch.device(device)
    return Embedder(
        model=model,
        prompt=prompt,
        model_name=name,
        preset=preset_for(name),
        batch_tokens=batch_tokens or default_batch_tokens(dev),
        device=dev,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", default="gemma-3-270m", help=f"one of {', '.join(SHAPES)}, or a config.json")
    parser.add_argument("--tokenizer", help="tokenizer folder (default: the packaged model's)")
    parser.add_argument("--out", type=Path, required=True, help="folder to write the model and tokenizer to")
    parser.add_argument("--device", default="cpu", help="where to initialise the weights (cuda is faster)")
    args = parser.parse_args()
    model, prompt, name = build(args.shape, args.tokenizer, args.device)
    model.save_pretrained(args.out)
    prompt.tokenizer.save_pretrained(args.out)
    params = sum(p.numel() for p in model.parameters())
    print(f"saved {name} ({params / 1e6:.0f}M parameters, {RANDOM_NOTE}) to {args.out}")


if __name__ == "__main__":
    main()
