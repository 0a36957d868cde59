"""The MCP tools: search the collection, say what it holds, read a source or a chunk's neighbours, and (opted in)
ingest a path. Each answers text to quote and the same as structured content; a product error becomes a tool
error with the words the `search` command prints."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, TypeVar

from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import CallToolResult, TextContent
from pydantic import BaseModel, Field

from search.errors import verdict
from search.mcp import answers
from search.mcp.answers import CollectionAbout, SearchAnswer, SourceText
from search.mcp.library import Library
from search.query.request import SearchQuery
from search.query.results import Mode
from search.validation import K_MAX, K_MIN

READ_LIMIT = 50
"""The most chunks one `read_source` call returns (the answer says where to read on)."""
NEIGHBOURS_MAX = 20
"""The most chunks `read_neighbours` reads on each side."""

Answer = TypeVar("Answer", bound=BaseModel)


@contextmanager
def tool_errors() -> Iterator[None]:
    """A product error as a tool error with the `search` command's words (`search.errors`); anything else the way
    the command reports a bug."""
    try:
        yield
    except ToolError:
        raise
    except Exception as exc:
        found = verdict(exc)
        if found is not None:
            raise ToolError(found.message) from None
        raise ToolError(f"internal error: {type(exc).__name__}: {exc} (a bug: please report it with the tool call "
                        "you made)") from exc


def result(answer: Answer, text: Callable[[Answer], str]) -> CallToolResult:
    """`answer` as structured content, with its text rendering as the content an assistant reads."""
    return CallToolResult(content=[TextContent(type="text", text=text(answer))],
                          structured_content=answer.model_dump(mode="json"))


class Tools:
    """The tools over one `Library`; `register` adds them to a server."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def search(
        self,
        question: Annotated[str, Field(description="What to look for, in plain words.")],
        k: Annotated[int, Field(ge=K_MIN, le=K_MAX, description="Hits per ranking.")] = 5,
        mode: Annotated[Mode, Field(description=(
            "What ranks the chunks: hybrid (echo embeddings and BM25 fused), rerank (hybrid's top 10 rescored by the "
            "language model: the best on the measured sets, about 3 s a question on a CPU), echo, classical, bm25 "
            "(the question's words), both (echo and classical) or all (those four)."))] = "hybrid",
        source: Annotated[list[str] | None, Field(description=(
            "Only chunks of these source paths (as list_sources names them)."))] = None,
    ) -> Annotated[CallToolResult, SearchAnswer]:
        """Search the user's documents: the best chunks for a question, each with its text, source file, chunk
        number, heading, rank and score, and which ranking found it. Cite hits by their source and chunk."""
        with tool_errors():
            query = SearchQuery(question, k, mode, source or None)
            found = self.library.search(query)
        answer = answers.search_answer(query.text, mode, self.library.settings.store.collection, found)
        return result(answer, answers.search_text)

    def list_sources(self) -> Annotated[CallToolResult, CollectionAbout]:
        """What the searched collection holds: its name, chunk and file counts, the model that embedded it, and
        every source file's path (use them as search's source filter or with read_source)."""
        with tool_errors():
            info = self.library.about()
        return result(answers.collection_about(info), answers.about_text)

    def read_source(
        self,
        source: Annotated[str, Field(description="The source path, as a hit or list_sources names it.")],
        first: Annotated[int, Field(ge=0, description="The first chunk to read (from 0).")] = 0,
        count: Annotated[int, Field(ge=1, le=READ_LIMIT, description="How many chunks to read.")] = READ_LIMIT,
    ) -> Annotated[CallToolResult, SourceText]:
        """Read a whole source document as stored, chunk after chunk in order (a page of chunks per call; the
        answer says where to read on)."""
        return self._read(source, first, first + count - 1)

    def read_neighbours(
        self,
        source: Annotated[str, Field(description="The source path of the chunk.")],
        chunk_index: Annotated[int, Field(ge=0, description="The chunk's number in its source (a hit's "
                                                            "chunk_index).")],
        before: Annotated[int, Field(ge=0, le=NEIGHBOURS_MAX, description="Chunks to read before it.")] = 2,
        after: Annotated[int, Field(ge=0, le=NEIGHBOURS_MAX, description="Chunks to read after it.")] = 2,
    ) -> Annotated[CallToolResult, SourceText]:
        """Read the chunks around one chunk of a source (a hit's context), in order, the chunk itself included."""
        return self._read(source, max(0, chunk_index - before), chunk_index + after)

    def _read(self, source: str, first: int, last: int) -> CallToolResult:
        with tool_errors():
            records = self.library.chunks(source, first, last)
        if not records:
            raise ToolError(f"collection {self.library.settings.store.collection!r} has no chunks of {source!r} from "
                            f"chunk {first} to {last}: list_sources names its sources")
        return result(answers.source_text(source, records, last), answers.passages_text)
