"""OpenAI-compatible embeddings: `POST /v1/embeddings` and `GET /v1/models`, for the clients that speak OpenAI's API
(the `openai` SDK, LangChain's `OpenAIEmbeddings`, LlamaIndex, vector databases' ingest tools).

OpenAI's API has no query/document distinction, so the model name carries it (`<model>` is the embedder's name,
`gemma-3-270m` for the packaged default):

- `<model>/echo-query`: echo vectors of questions, with the instructed query template (as `/search` embeds them);
- `<model>/echo-document`: echo vectors of passages, with the document template (as `ingest` embeds chunks);
- `<model>/classical`: the classical baseline of passages (the vectors `ingest` stores beside the echo ones).

Same API key, body limit, admission (`search.service.admission`: token budget, queue bound) and worker thread as
`/search`; errors in OpenAI's shape (`search.service.errors` renders them so on the `/v1/` routes).
"""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field, field_validator
from pydantic_core import PydanticCustomError

from embedder import Embedder
from embedder.encoder import Kind
from search.service.batching import MicroBatcher
from search.service.disconnect import unless_gone
from search.service.embedding_runner import EmbeddingRunner
from search.service.errors import INVALID, ErrorBody, OpenAIRoute, Refused, refusal
from search.service.metrics import ServiceMetrics
from search.validation import InvalidRequestError, check_text

MAX_INPUTS = 2048
"""Texts per request, as OpenAI's API allows."""

TOKEN_ARRAYS = ("token arrays are not accepted: send the texts as strings (this model has its own tokenizer). "
                "LangChain's OpenAIEmbeddings sends token arrays unless check_embedding_ctx_length=False")

Text = Annotated[str, Field(min_length=1)]


@dataclass(frozen=True)
class ServedModel:
    """What a model name asks for: the template of its texts and which vector comes back."""

    kind: Kind
    classical: bool = False


def served_models(embedder: Embedder | None) -> dict[str, ServedModel]:
    """The model names this service answers to (none without a model)."""
    if embedder is None:
        return {}
    base = embedder.model_name
    models = {f"{base}/echo-query": ServedModel("query"), f"{base}/echo-document": ServedModel("document")}
    if embedder.classical_mode != "none":
        models[f"{base}/classical"] = ServedModel("document", classical=True)
    return models


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings request."""

    input: Text | Annotated[list[Text], Field(min_length=1, max_length=MAX_INPUTS)] = Field(
        description=f"A text, or a list of up to {MAX_INPUTS} texts (not token arrays)."
    )
    model: str = Field(description="A name from `GET /v1/models`: `<model>/echo-query`, `<model>/echo-document` or "
                       "`<model>/classical`.", examples=["gemma-3-270m/echo-query"])
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="`base64`: each vector as the base64 of its little-endian float32 bytes."
    )
    dimensions: int | None = Field(None, description="Accepted when it is the model's size; vectors are not "
                                   "shortened.")
    user: str | None = Field(None, description="Accepted and ignored.")
    truncate: bool = Field(False, description="`true`: a text over the model's limit (`max_text_tokens`, 512 "
                           "tokens for the packaged model) is embedded cut to its first tokens. Without it such a "
                           "text is refused with 400 (`code: context_length_exceeded`), as OpenAI's API does. Not "
                           "in OpenAI's API: the `openai` SDK sends it with `extra_body`.")

    @field_validator("input", mode="before")
    @classmethod
    def _readable_input(cls, value: Any) -> Any:
        """One clear message per mistake (pydantic's would name each member of the union)."""
        if isinstance(value, int) or (isinstance(value, list) and any(isinstance(v, (int, list)) for v in value)):
            raise PydanticCustomError("token_arrays", TOKEN_ARRAYS)
        if not isinstance(value, (str, list)):
            raise PydanticCustomError("input_type", "input must be a string or a list of strings")
        if isinstance(value, list) and not 1 <= len(value) <= MAX_INPUTS:
            raise PydanticCustomError("input_length", "input must hold 1 to {most} texts, not {n}",
                                      {"most": MAX_INPUTS, "n": len(value)})
        for i, text in enumerate([value] if isinstance(value, str) else value):
            where = "input" if isinstance(value, str) else f"input[{i}]"
            if not isinstance(text, str):
                raise PydanticCustomError("text_type", "{where} must be a string", {"where": where})
            if not text.strip():
                raise PydanticCustomError("blank", "{where} is blank", {"where": where})
            try:
                check_text(text, where)
            except InvalidRequestError as exc:
                raise PydanticCustomError("unicode", str(exc)) from None
        return value

    def texts(self) -> list[str]:
        """`input` as a list."""
        return [self.input] if isinstance(self.input, str) else self.input


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str = Field(description="The vector, or with `encoding_format=base64` its float32 bytes.")


class Usage(BaseModel):
    prompt_tokens: int = Field(description="Tokens the model computed for the request's texts (their echo prompts "
                               "hold each text twice; padding included), as `Embedder.encode` counts them.")
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: Usage


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(description="When this service started (Unix time).")
    owned_by: str = "echo-search"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


def _encoded(vector: np.ndarray, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()


def add_openai_api(app: FastAPI, embedder: Embedder | None, batcher: MicroBatcher, metrics: ServiceMetrics,
                   dependencies: list[Any]) -> None:
    """Serve `POST /v1/embeddings` and `GET /v1/models` (the API key, if any, is checked by the app's guard, which
    covers every `/v1/` path); `dependencies`: the API key's security schemes, if any."""
    models = served_models(embedder)
    started = int(time.time())
    runner = EmbeddingRunner(batcher, embedder, metrics) if embedder is not None else None

    async def list_models() -> ModelList:
        """The model names `/v1/embeddings` answers to."""
        return ModelList(data=[ModelCard(id=name, created=started) for name in models])

    async def create_embeddings(body: EmbeddingRequest, request: Request) -> Any:
        """Embed texts as OpenAI's embeddings API does. A text over the model's limit is refused (400) unless
        `truncate` asks for it cut; each text's echo prompt may take `SEARCH_MAX_QUERY_TOKENS` tokens (422 past it);
        the texts go through the model thread in batches bounded like `/search`'s, 503 with Retry-After when
        `SEARCH_MAX_QUEUE` requests already wait. A request whose client hangs up is dropped before its forwards."""
        arrived = time.perf_counter()
        served = models.get(body.model)
        if served is None or runner is None:
            raise Refused(refusal(404, "NotFound", f"the model {body.model!r} does not exist; this service has "
                                  f"{', '.join(models) or 'no model'} (GET /v1/models)", param="model",
                                  code="model_not_found"))
        model = runner.embedder
        if body.dimensions is not None and body.dimensions != model.dim:
            raise Refused(refusal(422, INVALID, f"dimensions: this model's vectors have {model.dim} dimensions; "
                                  "they cannot be shortened", param="dimensions"))
        texts = body.texts()
        if not body.truncate and (cut := [i for i, text in enumerate(texts) if model.is_cut(text, served.kind)]):
            i = cut[0]
            raise Refused(refusal(
                400, "ContextLengthExceeded", f"input[{i}]: the text is {model.count_tokens(texts[i])} tokens; this "
                f"model embeds at most {model.text_limit(served.kind)} tokens of a text (its context), so it would be "
                "cut. Send shorter texts, or \"truncate\": true to have them cut"
                + (f"; {len(cut)} texts are over it" if len(cut) > 1 else ""), param="input",
                code="context_length_exceeded"))
        costs = [model.prompt_tokens(text, served.kind) for text in texts]
        batcher.admission.check_tokens(costs, "input", "its echo prompt (the text twice) is {tokens} tokens",
                                       indexed=True)
        done = await unless_gone(request, runner.embed(texts, costs, served.kind, served.classical, arrived))
        if done is None:  # the client went away: what still waited was dropped, and nobody reads an answer
            app.state.hung_up += 1
            return Response(status_code=499)
        data = [Embedding(index=i, embedding=_encoded(v, body.encoding_format)) for i, v in enumerate(done.vectors)]
        return EmbeddingResponse(data=data, model=body.model,
                                 usage=Usage(prompt_tokens=done.tokens, total_tokens=done.tokens))

    errors: dict[int | str, dict[str, Any]] = {code: {"model": ErrorBody} for code in (400, 401, 404, 413, 422, 503)}
    shared: dict[str, Any] = {"route_class_override": OpenAIRoute, "dependencies": dependencies,
                              "tags": ["OpenAI-compatible"]}
    app.router.add_api_route("/v1/models", list_models, methods=["GET"], response_model=ModelList,
                             responses={401: errors[401]}, **shared)
    app.router.add_api_route("/v1/embeddings", create_embeddings, methods=["POST"], response_model=EmbeddingResponse,
                             responses=errors, **shared)
