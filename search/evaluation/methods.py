"""The embedding methods compared by `search eval`, and the prompt wordings of the sensitivity mode."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from embedder import CLASSICAL, PROMPT_EOL, Embedder, Template
from embedder.templates import DEFAULT_INSTRUCTION, TEXT_SLOT
from search.errors import InvalidInputError
from search.evaluation.bidirectional import bidirectional

Family = Literal["echo", "classical", "eol", "trained"]
"""`trained` is not the embedder's model: a trained sentence encoder as a reference (`embedder.trained`)."""
Side = Literal["query", "document", "symmetric"]

WORDINGS: dict[Family, tuple[Template, ...]] = {
    "echo": (
        Template("Rewrite the following paragraph: {text}\nThe rewritten paragraph: {text}"),
        Template("Repeat the following sentence: {text}\nThe sentence again: {text}"),
        Template("Document: {text}\nDocument again: {text}"),
    ),
    "classical": (
        CLASSICAL,
        Template("Represent this sentence: {text}"),
        Template("Paragraph: {text}"),
    ),
    "eol": (
        PROMPT_EOL,
        Template('This text : "{text}" means in one word:"', pool_to_end=True),
        Template('In one word, the sentence "{text}" means:"', pool_to_end=True),
    ),
}
"""Wording 0 of each family is the default one; `--prompts` runs all three. Echo wording 0 is replaced by the
embedder's own symmetric template (the same one unless a model preset or option changed it)."""


@dataclass(frozen=True)
class Method:
    """One way of turning a text into a vector with the same model."""

    name: str
    description: str
    family: Family
    pooling: Literal["mean", "last"] = "mean"
    span: Literal["last", "first"] = "last"
    compute_matched: bool = False
    bidirectional: bool = False
    instructed: bool = True
    """Retrieval only: echo-prompt methods use the embedder's instructed query + document pair (else the
    symmetric prompt on both sides)."""

    def template(self, embedder: Embedder, side: Side, wording: int = 0) -> Template:
        """The prompt for one side (query, document or symmetric) under wording `wording`."""
        if self.family == "echo" and wording == 0:
            if side != "symmetric" and self.instructed:
                return embedder.preset.query if side == "query" else embedder.preset.document
            return embedder.preset.symmetric
        return WORDINGS[self.family][wording]

    def embed(
        self,
        embedder: Embedder,
        texts: Sequence[str],
        side: Side = "symmetric",
        wording: int = 0,
        instruction: str = DEFAULT_INSTRUCTION,
    ) -> np.ndarray:
        """L2-normalised vectors of `texts`, one row each, in order."""
        if self.family == "trained":  # its own model, no prompt: the same vector for a query and a document
            from embedder.trained import load_minilm

            return load_minilm().embed(texts)
        model = bidirectional(embedder) if self.bidirectional else embedder
        template = self.template(embedder, side, wording)
        span = self.span
        if span == "first":
            # The first copy of an echo prompt, by causal attention, is the pass of the prompt up to it alone; a query
            # under the instructed pair gets the document prompt's prefix instead, as the embedder's `first_span`
            # classical vectors do (both sides then see the same prefix).
            if side == "query" and self.instructed and template.prefix() != embedder.preset.document.prefix():
                template = embedder.preset.document
            template, span = Template(template.prefix() + TEXT_SLOT), "last"
        # compute matching halves each text's own tokens: the echo prompt then costs what one whole copy costs
        return model.embed(
            list(texts), template, pooling=self.pooling, span=span, instruction=instruction,
            compute_matched=self.compute_matched,
        )


METHODS: tuple[Method, ...] = (
    Method("echo", "echo, mean over the second copy", "echo"),
    Method("classical-first-span", "classical from the first copy of the echo pass (free for documents; a query "
           "gets its own pass under the document prompt's prefix)", "echo", span="first"),
    Method("classical", "classical, own pass with `Write a paragraph: {text}`", "classical"),
    Method("prompteol", 'PromptEOL `This sentence : "{text}" means in one word:"`, last token', "eol",
           pooling="last"),
    Method("echo-last", "echo, last token", "echo", pooling="last"),
    Method("classical-last", "classical, last token", "classical", pooling="last"),
    Method("echo-compute-matched", "echo of the first half of each text (same tokens as classical)", "echo",
           compute_matched=True),
    Method("classical-bidirectional", "classical with the causal mask made bidirectional (Cl.+Bi)", "classical",
           bidirectional=True),
)

RETRIEVAL_EXTRA: tuple[Method, ...] = (
    Method("echo-symmetric", "echo with the rewrite prompt on queries and documents", "echo", instructed=False),
    Method("classical-first-span-symmetric", "classical from the first copy, rewrite prompt on both sides", "echo",
           span="first", instructed=False),
    Method("minilm", "reference: all-MiniLM-L6-v2, a trained 22M-parameter sentence encoder (not the embedder's "
           "model; the extra echo-search[minilm])", "trained"),
)


def pick_methods(names: str | None, retrieval: bool = False) -> list[Method]:
    """The methods named in a comma-separated list (all of them when `names` is empty)."""
    known = METHODS + RETRIEVAL_EXTRA if retrieval else METHODS
    if not names:
        return list(known)
    by_name = {m.name: m for m in known}
    picked = []
    for name in (n.strip() for n in names.split(",")):
        if name not in by_name:
            raise InvalidInputError(f"unknown method {name!r}; choose from {', '.join(by_name)}")
        picked.append(by_name[name])
    return picked
