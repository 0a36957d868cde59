"""Prompt templates for echo, classical and PromptEOL embeddings, and their exact tokenization."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the UI imports DEFAULT_INSTRUCTION from here, without loading transformers
    from transformers import PreTrainedTokenizerBase

from embedder.window import piece_bounds

TEXT_SLOT = "{text}"
INSTRUCTION_SLOT = "{instruction}"

DEFAULT_INSTRUCTION = "Given a question, retrieve passages that answer the question"


@dataclass(frozen=True)
class Template:
    """A prompt with one or two `{text}` slots (and optionally `{instruction}`).

    The last `{text}` slot is the pooled span (the echo span when there are two); with two slots the first one
    is the classical span of the same pass. `pool_to_end` extends the pooled span to the end of the prompt
    (PromptEOL's trailing words, or the `</s>` the released echo checkpoints pool).
    """

    format: str
    pool_to_end: bool = False

    def __post_init__(self) -> None:
        slots = self.format.count(TEXT_SLOT)
        if slots not in (1, 2):
            raise ValueError(f"a template needs one or two {TEXT_SLOT} slots, got {slots}: {self.format!r}")

    @property
    def is_echo(self) -> bool:
        """True for a template with two `{text}` slots (the text is repeated)."""
        return self.format.count(TEXT_SLOT) == 2

    def prefix(self) -> str:
        """The prompt before the first `{text}`: two templates whose prefixes match give comparable first spans."""
        return self.format.split(TEXT_SLOT, 1)[0]


SYMMETRIC = Template("Rewrite the following paragraph: {text}\nThe rewritten paragraph: {text}")
QUERY = Template("Instruct: {instruction}\nQuery: {text}\nQuery again: {text}")
DOCUMENT = Template("Document: {text}\nDocument again: {text}")
CLASSICAL = Template("Write a paragraph: {text}")
PROMPT_EOL = Template('This sentence : "{text}" means in one word:"', pool_to_end=True)


@dataclass(frozen=True)
class Encoded:
    """Token ids of one rendered prompt and the [start, end) spans of its `{text}` slots (pooled one last)."""

    ids: list[int]
    spans: list[tuple[int, int]]
    truncated: bool


class PromptTokenizer:
    """Builds input ids by tokenizing template pieces separately, so that every span is exact."""

    def __init__(self, tokenizer: PreTrainedTokenizerBase) -> None:
        self.tokenizer = tokenizer
        self.special_prefix: list[int] = list(tokenizer("")["input_ids"])  # BOS as the model really expects it
        self._literal_cache: dict[str, list[int]] = {}
        self._rust = getattr(tokenizer, "backend_tokenizer", None)

    def _piece(self, text: str) -> list[int]:
        return self.pieces([text])[0]

    def pieces(self, texts: list[str]) -> list[list[int]]:
        """Ids of each text without special tokens, in one call (the Rust tokenizer spreads a batch over the cores).
        The Rust tokenizer (a fast tokenizer's `backend_tokenizer`) only reads while it encodes, so any thread may call
        this (the HTTP service counts a request's tokens while the model thread embeds)."""
        if self._rust is not None:
            return [list(e.ids) for e in self._rust.encode_batch(texts, add_special_tokens=False)]
        return [list(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]

    def literal(self, text: str) -> list[int]:
        """Ids of a template's literal piece (no special tokens), remembered."""
        if text not in self._literal_cache:
            self._literal_cache[text] = self._piece(text) if text else []
        return self._literal_cache[text]

    def text_ids(self, text: str, leading_space: bool) -> list[int]:
        """Ids of `text` as it reads after a literal that ended in a space (the space joins its first word)."""
        return self._piece(" " + text if leading_space else text)

    def encode(
        self,
        template: Template,
        text: str,
        max_text_tokens: int,
        instruction: str = DEFAULT_INSTRUCTION,
        compute_matched: bool = False,
    ) -> Encoded:
        """Ids and spans of `template` around `text`, the text cut to `max_text_tokens`.

        `compute_matched` keeps only the first half of the text's tokens (two half copies cost what one whole copy
        costs in a classical pass).
        """
        return self.encode_many(template, [text], max_text_tokens, instruction, compute_matched)[0]

    def encode_many(
        self,
        template: Template,
        texts: Sequence[str],
        max_text_tokens: int,
        instruction: str = DEFAULT_INSTRUCTION,
        compute_matched: bool = False,
    ) -> list[Encoded]:
        """`encode` for many texts, tokenized in one batch call (a fast tokenizer spreads it over the cores)."""
        literals = template.format.replace(INSTRUCTION_SLOT, instruction).split(TEXT_SLOT)
        spaces = {not last and literal.endswith(" ") for literal, last in self._slots(literals)}
        pieces = {space: self.pieces([" " + t if space else t for t in texts]) for space in spaces}
        out = []
        for n in range(len(texts)):
            ids = list(self.special_prefix)
            spans: list[tuple[int, int]] = []
            truncated = False
            for literal, is_last in self._slots(literals):
                space = not is_last and literal.endswith(" ")
                ids += self.literal(literal[:-1] if space else literal)
                if is_last:
                    break
                full = pieces[space][n]
                wanted = (len(full) + 1) // 2 if compute_matched else len(full)
                keep = min(max_text_tokens, wanted)
                truncated = truncated or keep < wanted
                spans.append((len(ids), len(ids) + keep))
                ids += full[:keep]
            if template.pool_to_end:
                spans[-1] = (spans[-1][0], len(ids))
            out.append(Encoded(ids=ids, spans=spans, truncated=truncated))
        return out

    @staticmethod
    def _slots(literals: list[str]) -> list[tuple[str, bool]]:
        """Each literal piece of a template and whether it is the last (no `{text}` after it)."""
        return [(literal, i == len(literals) - 1) for i, literal in enumerate(literals)]

    def echo_overhead(self, template: Template, instruction: str = DEFAULT_INSTRUCTION) -> int:
        """Tokens from the first `{text}` span's start to the pooled span's end that are not text: the literal
        between the two copies, plus the tail when the template pools to the end."""
        if not template.is_echo:
            raise ValueError(f"not an echo template (two {TEXT_SLOT} slots): {template.format!r}")
        _, middle, tail = template.format.replace(INSTRUCTION_SLOT, instruction).split(TEXT_SLOT)
        between = len(self.literal(middle[:-1] if middle.endswith(" ") else middle))
        return between + (len(self.literal(tail)) if template.pool_to_end else 0)

    def split_many(
        self, texts: Sequence[str], max_tokens: int, budget: int, compute_matched: bool = False
    ) -> list[tuple[list[str], bool]]:
        """Each text cut to its first `budget` tokens (or its first half with `compute_matched`, as `encode_many`
        cuts) as
        consecutive pieces of at most `max_tokens` tokens (`embedder.window.piece_bounds`), cut at token
        boundaries and stripped, and whether it was longer than `budget`. A text that fits is one piece, itself."""
        if self._rust is not None:
            offsets = [list(e.offsets) for e in self._rust.encode_batch(list(texts), add_special_tokens=False)]
        else:
            offsets = [list(o) for o in self.tokenizer(list(texts), add_special_tokens=False,
                                                       return_offsets_mapping=True)["offset_mapping"]]
        out = []
        for text, spans in zip(texts, offsets, strict=True):
            n = min(budget, (len(spans) + 1) // 2 if compute_matched else len(spans))
            if n <= max_tokens:
                out.append(([text], len(spans) > budget))
                continue
            pieces = [text[spans[a][0] : spans[b - 1][1]].strip() for a, b in piece_bounds(n, max_tokens)]
            out.append(([p for p in pieces if p], len(spans) > budget))
        return out

    def count(self, text: str) -> int:
        """Number of tokens of `text` alone (what the token budget counts)."""
        return len(self._piece(text))


def validate_texts(texts: Sequence[object]) -> list[str]:
    """Return the texts as a list, or raise `ValueError` naming the first bad index."""
    if isinstance(texts, (str, bytes)):
        raise ValueError("texts must be a list of strings, not a single string: wrap it in a list")
    out: list[str] = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise ValueError(f"texts[{i}] is {type(text).__name__}, expected a non-empty str")
        if not text.strip():
            raise ValueError(f"texts[{i}] is empty or whitespace only")
        out.append(text)
    return out


def template_id(template: Template) -> str:
    """A short readable id of a template for fingerprints (its words, squeezed)."""
    return re.sub(r"\s+", " ", template.format).strip() + ("+end" if template.pool_to_end else "")
