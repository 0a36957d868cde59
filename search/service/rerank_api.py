"""`POST /rerank`: score passages for a question with the query-likelihood reranker, in the shapes RAG stacks send.

One route takes both common shapes:

- Cohere's (`documents`, strings or `{"text": ...}` objects): answers `{"id", "results": [{"index",
  "relevance_score", "document"?}], "meta"}`, best first, `top_n` of them, the text back with `return_documents`;
- Hugging Face TEI's (`texts`): answers a JSON list of `{"index", "score", "text"?}`, best first, the text back with
  `return_text`.

The score is the model's mean log-probability of the question's tokens after the passage (`Embedder.rerank`: at most
0, higher is better) with `raw_scores: true`; by default its exponential, the geometric mean of the per-token
probabilities, a number in (0, 1] as clients of these APIs expect. Same API key, body limit, queue bound
(`SEARCH_MAX_QUEUE`: 503 with Retry-After) and error shape as `/search`; the passages run on the service's model
thread in forwards of at most `SEARCH_BATCH_TOKENS` tokens, each cut to `ECHO_SEARCH_RERANK_PASSAGE_TOKENS`.
"""

from __future__ import annotations

import time
import uuid
from functools import partial
from typing import Annotated, Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field, model_validator
from pydantic_core import PydanticCustomError

from embedder.rerank import Reranked
from search.query.searcher import Searcher
from search.service.batching import MicroBatcher
from search.service.disconnect import unless_gone
from search.service.schema import not_blank
from search.validation import InvalidRequestError, check_text

MAX_DOCUMENTS = 1000
"""Passages per request (Cohere's limit)."""
MAX_CHARS = 20_000
"""Characters of the question and of each passage (a passage is read up to its first passage-token budget)."""

Text = Annotated[str, Field(min_length=1, max_length=MAX_CHARS)]


class RerankDocument(BaseModel):
    """A passage as Cohere's API also takes it."""

    text: Text


class RerankRequest(BaseModel):
    """A question and the passages to score, in Cohere's shape (`documents`) or TEI's (`texts`)."""

    query: Annotated[Text, AfterValidator(not_blank)] = Field(description="The question.")
    documents: list[Text | RerankDocument] | None = Field(
        None, description=f"Cohere's shape: the passages (strings or `{{\"text\": ...}}`), 1 to {MAX_DOCUMENTS}.")
    texts: list[Text] | None = Field(None, description=f"TEI's shape: the passages, 1 to {MAX_DOCUMENTS}.")
    top_n: int | None = Field(None, ge=1, description="Only the best n (default: all).")
    return_documents: bool = Field(False, description="Cohere's shape: each result carries its document's text.")
    return_text: bool = Field(False, description="TEI's shape: each result carries its text.")
    raw_scores: bool = Field(False, description="The mean log-probability itself instead of its exponential.")
    model: str | None = Field(None, description="Accepted and ignored: the service's own model scores.")
    truncate: bool | None = Field(None, description="Accepted (TEI): passages are always cut to the passage "
                                  "budget, `ECHO_SEARCH_RERANK_PASSAGE_TOKENS`.")

    @model_validator(mode="after")
    def _one_shape(self) -> RerankRequest:
        given = [name for name in ("documents", "texts") if getattr(self, name) is not None]
        if len(given) != 1:
            raise PydanticCustomError("shape", "give the passages as `documents` (Cohere) or `texts` (TEI), not both")
        if not 1 <= len(self.passages()) <= MAX_DOCUMENTS:
            raise PydanticCustomError("count", "{name} must hold 1 to {most} passages, not {n}",
                                      {"name": given[0], "most": MAX_DOCUMENTS, "n": len(self.passages())})
        return self

    def passages(self) -> list[str]:
        """The passages' texts, in order."""
        given = self.documents if self.documents is not None else self.texts or []
        return [d.text if isinstance(d, RerankDocument) else d for d in given]

    def check(self) -> None:
        """`InvalidRequestError` (422) for what the schema lets through but the model cannot read."""
        check_text(self.query, "query")
        for i, text in enumerate(self.passages()):
            where = f"{'documents' if self.documents is not None else 'texts'}[{i}]"
            if not text.strip():
                raise InvalidRequestError(f"{where} is blank")
            check_text(text, where)


class CohereDocument(BaseModel):
    text: str


class CohereResult(BaseModel):
    index: int = Field(description="The passage's position in the request.")
    relevance_score: float
    document: CohereDocument | None = None


class RerankMeta(BaseModel):
    tokens: int = Field(description="Tokens the model computed (padding included).")
    truncated: int = Field(description="Passages cut to the passage budget.")
    rerank_ms: float = Field(description="Time on the model thread.")


class CohereResponse(BaseModel):
    id: str
    results: list[CohereResult]
    meta: RerankMeta


class TeiResult(BaseModel):
    index: int
    score: float
    text: str | None = None


class RerankRunner:
    """Scores a request's passages on the batcher's worker thread, in forwards of at most `batch_tokens` tokens (so
    searches arriving meanwhile run between them); admitted like `/v1/embeddings` requests, by the batcher's gate
    (`search.service.admission`). Cancelled (the client went away: `search.service.disconnect.unless_gone`), the
    forwards still to come are never queued."""

    def __init__(self, batcher: MicroBatcher, searcher: Searcher) -> None:
        self.batcher = batcher
        self.searcher = searcher

    async def score(self, query: str, passages: list[str]) -> tuple[Reranked, float]:
        """The scores of `passages`, and the seconds spent on the model thread."""
        embedder = self.searcher.model
        budget = self.searcher.rerank.passage_tokens
        per_forward = max(1, self.batcher.batch_tokens // (budget + embedder.count_tokens(query) + 32))
        with self.batcher.admission.request():
            scores = np.empty(len(passages))
            tokens = truncated = 0
            seconds = 0.0
            for start in range(0, len(passages), per_forward):
                began = time.perf_counter()
                part = await self.batcher.run(partial(embedder.rerank, query, passages[start:start + per_forward],
                                                      passage_tokens=budget))
                self.batcher.admission.forward_seconds = time.perf_counter() - began
                seconds += self.batcher.admission.forward_seconds
                scores[start:start + per_forward] = part.scores
                tokens += part.tokens
                truncated += part.truncated
            return Reranked(scores, tokens, truncated), seconds


def add_rerank_api(app: FastAPI, searcher: Searcher, batcher: MicroBatcher, dependencies: list[Any],
                   responses: dict[int | str, dict[str, Any]]) -> None:
    """Serve `POST /rerank` (the API key, if any, is checked by the app's guard: add "/rerank" to its paths)."""
    runner = RerankRunner(batcher, searcher)

    async def rerank(body: RerankRequest, request: Request) -> Any:
        """Score passages for a question with the service's model (query likelihood), best first; Cohere's answer
        for `documents`, TEI's for `texts`. 422 for a question over `SEARCH_MAX_QUERY_TOKENS` tokens."""
        body.check()
        if (reason := searcher.model.rerank_refusal) is not None:
            raise InvalidRequestError(reason)
        batcher.admission.check_tokens([searcher.model.count_tokens(body.query)], "query", "{tokens} tokens")
        passages = body.passages()
        done = await unless_gone(request, runner.score(body.query, passages))
        if done is None:  # the client went away: the forwards still to come were never queued
            app.state.hung_up += 1
            return Response(status_code=499)
        scored, seconds = done
        values = scored.scores if body.raw_scores else np.exp(scored.scores)
        order = np.argsort(-scored.scores, kind="stable")[: body.top_n]
        if body.texts is not None:
            return [TeiResult(index=int(i), score=float(values[i]), text=passages[i] if body.return_text else None)
                    .model_dump(exclude_none=True) for i in order]
        results = [CohereResult(index=int(i), relevance_score=float(values[i]),
                                document=CohereDocument(text=passages[i]) if body.return_documents else None)
                   for i in order]
        meta = RerankMeta(tokens=scored.tokens, truncated=scored.truncated, rerank_ms=seconds * 1000)
        return CohereResponse(id=str(uuid.uuid4()), results=results, meta=meta).model_dump(exclude_none=True)

    app.add_api_route("/rerank", rerank, methods=["POST"], dependencies=dependencies, responses={
        200: {"description": "Cohere's shape for `documents` (`CohereResponse`), TEI's for `texts` (a list of "
              "`TeiResult`)."}, **responses}, response_model=CohereResponse | list[TeiResult],
        response_model_exclude_none=True)
