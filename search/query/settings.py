"""The query side's settings: how the `rerank` ranking is made (`ECHO_SEARCH_RERANK_*`), composed into
`search.settings.Settings` as its `rerank` section. Imports no torch and no Qdrant package."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from embedder.settings import COMMON, Section

FirstStage = Literal["hybrid", "bm25", "echo", "classical"]


class RerankSettings(Section):
    """The `rerank` ranking: a first stage's top `depth` hits rescored by the model (query likelihood)."""

    model_config = SettingsConfigDict(env_prefix="ECHO_SEARCH_RERANK_", **COMMON)

    depth: int = Field(
        default=10, ge=1, le=100,
        description="hits of the first stage that `rerank` rescores (each costs a model forward over its passage); "
        "hits past them follow in the first stage's order, with its scores",
    )
    first_stage: FirstStage = Field(
        default="hybrid", description="the ranking whose top hits `rerank` rescores: `hybrid`, `bm25`, `echo` or "
        "`classical`",
    )
    passage_tokens: int = Field(
        default=128, ge=8, le=4096,
        description="tokens of each passage the model reads when it rescores (the rest is cut): the cost of a "
        "rerank grows with it",
    )
