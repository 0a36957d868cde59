"""Template presets: the zero-shot defaults and the released fine-tuned echo checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from embedder.templates import DOCUMENT, QUERY, SYMMETRIC, Template


@dataclass(frozen=True)
class Preset:
    """Which templates, pooling and hidden layer a model wants."""

    document: Template = DOCUMENT
    query: Template = QUERY
    symmetric: Template = SYMMETRIC
    pooling: Literal["mean", "last"] = "mean"
    layer: int = -1
    """The hidden state pooled by default (`Embedder.layer`)."""

    def with_overrides(
        self,
        *,
        pooling: Literal["mean", "last"] | None = None,
        document: Template | str | None = None,
        query: Template | str | None = None,
        symmetric: Template | str | None = None,
    ) -> Preset:
        def as_template(value: Template | str | None, current: Template) -> Template:
            if value is None:
                return current
            return value if isinstance(value, Template) else Template(value)

        return replace(
            self,
            pooling=pooling or self.pooling,
            document=as_template(document, self.document),
            query=as_template(query, self.query),
            symmetric=as_template(symmetric, self.symmetric),
        )


ZERO_SHOT = Preset()

# jspringer/echo-mistral-7b-instruct-*: no space after the colons (SentencePiece adds one), `</s>` pooled.
_MISTRAL_ECHO = Preset(
    document=Template("Document:{text}\nDocument again:{text}</s>", pool_to_end=True),
    query=Template("Instruct:{instruction},\nQuery:{text}\nQuery again:{text}</s>", pool_to_end=True),
    symmetric=Template("Document:{text}\nDocument again:{text}</s>", pool_to_end=True),
)

PRESETS: dict[str, Preset] = {
    # Layer 17 of 18, chosen on four dev sets (docs/evaluation.md, "Which layer, and centering"): the best mean of
    # echo over STS-B dev (78.3 against 70.9 for the last layer) and the man-page (83.0 against 60.4) and FAQ
    # (59.5 against 48.2) retrieval dev sets, nDCG@10. Its cosines are bunched (unrelated chunks near 0.95), so
    # hits carry a calibrated `z` (search.query.calibration) a person can read; centering was measured and not taken.
    "gemma-3-270m": replace(ZERO_SHOT, layer=17),
    "jspringer/echo-mistral-7b-instruct-lasttoken": replace(_MISTRAL_ECHO, pooling="last"),
    "jspringer/echo-mistral-7b-instruct-meantoken": replace(_MISTRAL_ECHO, pooling="mean"),
}


def preset_for(model: str) -> Preset:
    """The preset registered for a model id, else the zero-shot templates with mean pooling."""
    return PRESETS.get(model, ZERO_SHOT)
