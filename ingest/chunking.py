"""Structure-aware chunking: sections follow headings, chunks fill up to a token budget of the embedder's tokenizer.

A heading closes the chunk before it and opens a section; the heading path ("Guide > Install") is kept with
every chunk of the section and its text starts the section's first chunk. Body elements are packed into a
chunk while their token counts fit the budget (each element is counted once); an element longer than the budget
is cut at sentence or word ends by token offsets.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ingest.parse import Element

if TYPE_CHECKING:
    from embedder import Embedder

DEFAULT_CHUNK_TOKENS = 200


@dataclass(frozen=True)
class Chunk:
    """A piece of a document to embed; `index` counts from 0 within its file."""

    index: int
    text: str
    title: str | None
    page: int | None


@dataclass
class _Open:
    parts: list[str] = field(default_factory=list)
    tokens: int = 0
    page: int | None = None
    has_body: bool = False


class Chunker:
    """Turns elements into `Chunk`s of at most about `max_tokens` tokens, counted with `count_tokens`."""

    def __init__(self, count_tokens: Callable[[str], int], max_tokens: int = DEFAULT_CHUNK_TOKENS,
                 split_tokens: Callable[[str, int], list[str]] | None = None) -> None:
        if max_tokens < 8:
            raise ValueError(f"chunk budget must be at least 8 tokens, got {max_tokens}")
        self.count_tokens = count_tokens
        self.max_tokens = max_tokens
        self.split_tokens = split_tokens or _split_by_words(count_tokens)

    def chunks(self, elements: Iterable[Element]) -> Iterator[Chunk]:
        """Chunks in document order, numbered from 0."""
        for index, (text, title, page) in enumerate(self._texts(elements)):
            yield Chunk(index=index, text=text, title=title, page=page)

    def _texts(self, elements: Iterable[Element]) -> Iterator[tuple[str, str | None, int | None]]:
        headings: list[tuple[int, str]] = []
        current = _Open()

        def title() -> str | None:
            return " > ".join(text for _, text in headings) or None

        for el in elements:
            if el.heading:
                if current.has_body:
                    yield "\n".join(current.parts), title(), current.page
                    current = _Open()
                headings = [h for h in headings if h[0] < el.depth] + [(el.depth, el.text[:200])]
            tokens = self.count_tokens(el.text) + 1  # + the joining newline
            if current.tokens + tokens > self.max_tokens and current.has_body:
                yield "\n".join(current.parts), title(), current.page
                current = _Open()
            if tokens > self.max_tokens:
                room = max(self.max_tokens - current.tokens, self.max_tokens // 2)
                *whole, last = self.split_tokens(el.text, room)
                for piece in whole:
                    current.parts.append(piece)
                    current.page = current.page if current.page is not None else el.page
                    yield "\n".join(current.parts), title(), current.page
                    current = _Open()
                el = Element(text=last, page=el.page)
                tokens = self.count_tokens(last) + 1
            current.parts.append(el.text)
            current.tokens += tokens
            current.has_body = current.has_body or not el.heading
            if current.page is None:
                current.page = el.page
        if current.parts:
            yield "\n".join(current.parts), title(), current.page


def tokenizer_chunker(tokenizer, max_tokens: int = DEFAULT_CHUNK_TOKENS) -> Chunker:  # noqa: ANN001 - HF tokenizer
    """A `Chunker` that counts and cuts with `tokenizer`, safe on a thread beside the model's own tokenizer calls.

    A fast tokenizer is used through its Rust tokenizer (`backend_tokenizer`), whose `encode` only reads, so the
    thread shares it (a deep copy of Gemma's 262k-token tokenizer took 2.8 s per ingest run); a slow one is copied
    and cuts at words.
    """
    rust = getattr(tokenizer, "backend_tokenizer", None)
    if rust is None:
        own = copy.deepcopy(tokenizer)
        return Chunker(lambda text: len(own(text, add_special_tokens=False)["input_ids"]), max_tokens)

    def count(text: str) -> int:
        return len(rust.encode(text, add_special_tokens=False).ids)

    def offsets(text: str) -> list[tuple[int, int]]:
        return list(rust.encode(text, add_special_tokens=False).offsets)

    return Chunker(count, max_tokens, token_splitter(offsets))


def token_splitter(offsets_of: Callable[[str], list[tuple[int, int]]]) -> Callable[[str, int], list[str]]:
    """Split a text into pieces of at most `n` tokens by its token offsets (`offsets_of(text)`), cutting after a
    sentence end (else a space) in the second half of each window when there is one."""

    def split(text: str, n: int) -> list[str]:
        offsets = offsets_of(text)
        pieces: list[str] = []
        start_tok, start_char = 0, 0
        while start_tok < len(offsets):
            end_tok = min(start_tok + n, len(offsets))
            if end_tok < len(offsets):
                end_tok = _best_cut(text, offsets, start_tok, end_tok)
            end_char = offsets[end_tok][0] if end_tok < len(offsets) else len(text)
            if piece := text[start_char:end_char].strip():
                pieces.append(piece)
            start_tok, start_char = end_tok, end_char
        return pieces or [text]

    return split


def _best_cut(text: str, offsets: list[tuple[int, int]], start: int, end: int) -> int:
    """A token index in the second half of (start, end] to cut before: after a sentence end, else a space."""
    low = start + max(1, (end - start) // 2)
    for marks in ((".", "!", "?", "\n"), (" ",)):
        for i in range(end, low, -1):
            char_before = text[offsets[i][0] - 1: offsets[i][0]] if offsets[i][0] > 0 else ""
            prev_end = offsets[i - 1][1]
            if text[prev_end - 1: prev_end] in marks or char_before in marks:
                return i
    return end


def _split_by_words(count_tokens: Callable[[str], int]) -> Callable[[str, int], list[str]]:
    """Fallback splitter when no offsets tokenizer is given: whole words, counted one by one."""

    def split(text: str, budget: int) -> list[str]:
        pieces: list[str] = []
        current: list[str] = []
        used = 0
        for word in text.split():
            n = count_tokens(" " + word)
            if current and used + n > budget:
                pieces.append(" ".join(current))
                current, used = [], 0
            current.append(word)
            used += n
        if current:
            pieces.append(" ".join(current))
        return pieces or [text]

    return split


def window_warning(chunk_tokens: int, embedder: Embedder) -> str | None:
    """A warning when a chunk of `chunk_tokens` tokens does not fit the model's attention window twice (the
    document echo prompt), so the echo vector of such a chunk cannot cover all of it; None when it fits. `ingest`
    prints it, and so does a service that runs the ingest handed to it."""
    limit = embedder.echo_text_limit(embedder.preset.document)
    if limit is None or chunk_tokens <= limit:
        return None
    return (f"warning: --chunk-tokens {chunk_tokens} is more than the {limit} tokens a document's echo prompt can "
            f"hold within the model's {embedder.reach}-token attention window; the echo vector of a longer chunk "
            f"covers only part of it (long_texts={embedder.long_texts!r}). Use --chunk-tokens {limit} or less.")
