"""Template presets: the zero-shot defaults and the released fine-tuned echo checkpoints."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from embedder.templates import DOCUMENT, QUERY, SYMMETRIC, Template


@dataclass(frozen=True)
class Preset:
    """Which templates and pooling a model family wants."""

    document: Template = DOCUMENT
    query: Template = QUERY
    symmetric: Template = SYMMETRIC
    pooling: Literal["mean", "last"] = "mean"

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
    "jspringer/echo-mistral-7b-instruct-lasttoken": replace(_MISTRAL_ECHO, pooling="last"),
    "jspringer/echo-mistral-7b-instruct-meantoken": replace(_MISTRAL_ECHO, pooling="mean"),
}


def preset_for(model: str) -> Preset:
    """The preset registered for a model id, else the zero-shot templates with mean pooling."""
    return PRESETS.get(model, ZERO_SHOT)
