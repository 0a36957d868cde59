"""`IngestOptions`: what to ingest and how, in one typed shape.

The same object is the `ingest` command's options (built from its flags), the argument of both runners
(`ingest.pipeline.ingest_paths`, `ingest.ray_runner.ingest_paths_ray`), the body of `POST /ingest` (what `ingest`
and the UI's uploads hand over to the service that holds the store, `ingest.handover`) and the paths a
`search serve --watch` keeps in sync. Runtime things (a progress callback, a stop event, where the store is) are
not options: the runners take them beside it.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from ingest.budget import DEFAULT_MAX_FILE_CHUNKS, DEFAULT_MAX_FILE_MB, FileBudget
from ingest.chunking import DEFAULT_CHUNK_TOKENS
from ingest.discover import Shard
from search.errors import InvalidInputError


class IngestOptions(BaseModel):
    """The options of one ingest run: the `ingest` command's, and the body of `POST /ingest` (there `paths` are
    absolute, as the service's machine sees them)."""

    model_config = ConfigDict(frozen=True)

    paths: list[Path] = Field(min_length=1, description="Files and folders on the service's machine.")
    force: bool = Field(default=False, description="Re-embed every file, changed or not.")
    chunk_tokens: int = Field(default=DEFAULT_CHUNK_TOKENS, ge=8, description="Token budget of a chunk.")
    batch_size: int | None = Field(default=None, ge=1, description="Chunks per embedding and upsert batch "
                                   "(default: by device).")
    shard: str | None = Field(default=None, description="Handle only share i of N workers, e.g. 0/4.")
    max_file_mb: float = Field(default=DEFAULT_MAX_FILE_MB, ge=0, description="A bigger file fails as too large; "
                               "0: no limit.")
    max_file_chunks: int = Field(default=DEFAULT_MAX_FILE_CHUNKS, ge=0, description="A file of more chunks fails "
                                 "as too large; 0: no limit.")

    @property
    def budget(self) -> FileBudget:
        """The per-file budget of `max_file_mb` and `max_file_chunks`."""
        return FileBudget(self.max_file_mb, self.max_file_chunks)

    def parsed_shard(self) -> Shard | None:
        """The `Shard` that `shard` names (None for all files); a malformed one is `InvalidInputError`."""
        try:
            return Shard.parse(self.shard) if self.shard else None
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None

    def absolute(self) -> IngestOptions:
        """These options with absolute paths (as the service's machine sees this machine's files)."""
        return self.model_copy(update={"paths": [Path(os.path.abspath(p)) for p in self.paths]})
