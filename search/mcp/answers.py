"""What the MCP tools answer: typed structured content (`SearchAnswer`, `Passage`, ...) and the same as text an
assistant can quote and cite (each passage names its source, chunk, heading and which ranking found it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from search.query.calibration import strength
from search.query.results import RANKINGS_OF, Hit, SearchResult
from search.store import ChunkRecord, CollectionInfo


class Found(BaseModel):
    """One ranked chunk."""

    ranking: str = Field(description="The ranking that found it: echo, classical, bm25 or hybrid.")
    rank: int = Field(description="Its place in that ranking, from 1.")
    score: float = Field(description="The ranking's score: cosine for echo and classical, BM25 or fused score.")
    z: float | None = Field(description="For echo and classical: the score in standard deviations above the "
                                        "question's mean over a sample of the collection (3 and more: strong).")
    strength: str = Field(description="'strong' (z >= 3), 'fair' (z >= 2), 'weak', or '' without a z.")
    source: str = Field(description="Path of the file the chunk came from.")
    chunk_index: int = Field(description="Position of the chunk in its file, from 0.")
    title: str | None = Field(description="The heading the chunk sits under, when known.")
    page: int | None = Field(description="Page number, when known.")
    text: str
    id: str = Field(description="The chunk's point id.")


class SearchAnswer(BaseModel):
    """The hits of a question, ranking by ranking."""

    question: str
    mode: str
    collection: str
    hits: list[Found]


class Passage(BaseModel):
    """One chunk of a source, as stored."""

    chunk_index: int
    title: str | None
    page: int | None
    text: str


class SourceText(BaseModel):
    """Consecutive chunks of one source, in order."""

    source: str
    n_chunks: int = Field(description="How many chunks the source has (-1 while it is being ingested).")
    chunks: list[Passage]
    more_from: int | None = Field(description="The chunk index to read on from; None when this is the end.")


class CollectionAbout(BaseModel):
    """What the collection holds."""

    collection: str
    location: str
    chunks: int
    files: int
    sources: list[str]
    embedder: dict[str, Any]
    index: str


def search_answer(question: str, mode: str, collection: str, result: SearchResult) -> SearchAnswer:
    """The result's rankings (those `mode` fills), best first within each."""
    hits = [_found(name, hit) for name in RANKINGS_OF[mode] for hit in result.ranking(name)]
    return SearchAnswer(question=question, mode=mode, collection=collection, hits=hits)


def _found(ranking: str, hit: Hit) -> Found:
    record = hit.record
    return Found(ranking=ranking, rank=hit.rank, score=hit.score, z=hit.z, strength=strength(hit.z),
                 source=hit.source, chunk_index=hit.chunk_index, title=record.title, page=record.page,
                 text=hit.text, id=hit.id)


def search_text(answer: SearchAnswer) -> str:
    """The hits as citeable text: a header line per hit (ranking, rank, score, file#chunk, heading), then its text."""
    if not answer.hits:
        return (f"No hits for {answer.question!r} in collection {answer.collection!r}: it is empty (run `ingest "
                "PATH`), the source filter matched nothing, or (bm25) no chunk has the question's words.")
    lines = [f"{len(answer.hits)} hit(s) for {answer.question!r} in collection {answer.collection!r} "
             f"(mode {answer.mode}):"]
    for hit in answer.hits:
        score = f"score {hit.score:.3f}" + (f", z {hit.z:.1f} {hit.strength}" if hit.z is not None else "")
        lines += ["", f"[{hit.ranking} #{hit.rank}] {_where(hit.source, hit.chunk_index, hit.title, hit.page)} "
                      f"({score})", hit.text]
    return "\n".join(lines)


def source_text(source: str, records: list[ChunkRecord], last: int) -> SourceText:
    """`records` (the chunks of `source` up to index `last`, in order) with where to read on: after `last`, when the
    read reached it and the source has more (or its count is not known yet)."""
    n_chunks = max((r.n_chunks for r in records), default=-1)
    end = records[-1].chunk_index if records else -1
    more = end + 1 if end == last and (n_chunks < 0 or end + 1 < n_chunks) else None
    return SourceText(source=source, n_chunks=n_chunks, more_from=more,
                      chunks=[Passage(chunk_index=r.chunk_index, title=r.title, page=r.page, text=r.text)
                              for r in records])


def passages_text(text: SourceText) -> str:
    """The chunks as text: a header per chunk (file#chunk, heading), then its text; then where to read on."""
    of = f" of {text.n_chunks}" if text.n_chunks >= 0 else ""
    lines = [f"{text.source}: chunks {text.chunks[0].chunk_index} to {text.chunks[-1].chunk_index}{of}"]
    for chunk in text.chunks:
        lines += ["", f"[{_where(text.source, chunk.chunk_index, chunk.title, chunk.page)}]", chunk.text]
    if text.more_from is not None:
        lines += ["", f"(more: read_source with first={text.more_from})"]
    return "\n".join(lines)


def collection_about(info: CollectionInfo) -> CollectionAbout:
    """The tool's answer (its own names: `collection`, `chunks`) of what the collection holds."""
    return CollectionAbout(collection=info.name, location=info.location, chunks=info.points, files=info.files,
                           sources=info.sources, embedder=info.embedder, index=info.index)


def about_text(about: CollectionAbout) -> str:
    model = about.embedder.get("model", "")
    lines = [f"Collection {about.collection!r} at {about.location}: {about.chunks} chunks from {about.files} "
             f"file(s)" + (f", embedded by {model}" if model else "") + "."]
    lines += [f"- {source}" for source in about.sources]
    return "\n".join(lines)


def _where(source: str, chunk_index: int, title: str | None, page: int | None) -> str:
    """"kitchen.md#3, Descaling, page 2": the file's name and chunk, its heading and page when known."""
    parts = [f"{Path(source).name}#{chunk_index}"]
    if title:
        parts.append(title)
    if page is not None:
        parts.append(f"page {page}")
    return ", ".join(parts) + f" ({source})"
