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
    # Layer 17 of 18 won on both dev sets (docs/evaluation.md, `search eval layers`): STS-B dev echo 78.3 against
    # 70.9 for the last layer, man-page retrieval dev nDCG@10 83.0 against 61.0. It is not the default yet: its
    # vectors are bunched (cosines 0.95-0.98 between unrelated chunks), and over ingested chunks with headings it
    # ranked the answer to one of the four questions of tests/test_langchain_integration.py second (0.964 against
    # 0.966), which the last layer ranks first. `layer=17` opts in.
    "gemma-3-270m": ZERO_SHOT,
    "jspringer/echo-mistral-7b-instruct-lasttoken": replace(_MISTRAL_ECHO, pooling="last"),
    "jspringer/echo-mistral-7b-instruct-meantoken": replace(_MISTRAL_ECHO, pooling="mean"),
}


def preset_for(model: str) -> Preset:
    """The preset registered for a model id, else the zero-shot templates with mean pooling."""
    return PRESETS.get(model, ZERO_SHOT)
