"""BM25 in the store: one tokenizer and weighting for documents and queries, on the embedded engine and on a server.

The term weights of a chunk's text are computed here, on the client side, with qdrant-edge's `Bm25` (no inference
service needed, the same code whether the embedded engine or the server stores them); the engine applies the inverse
document frequencies at query time (the sparse vector's IDF modifier), so they stay right as points are added,
changed and deleted.
A change of the configuration (`_model`) must change `DESCRIPTION`: the next `ensure` (every `ingest`) then
recomputes the stored vectors.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import qdrant_edge as edge

DESCRIPTION = "qdrant-bm25/word/english/lower/k1.2/b0.75/avg256"
"""Recorded in the collection's metadata: the stored sparse vectors were made with this configuration (`_model`)."""


@cache
def _model() -> edge.Bm25:
    """Qdrant's defaults, written out: k 1.2 (term-frequency saturation), b 0.75 (length normalisation), average
    length 256 tokens, the word tokenizer, lowercase, English stopwords and Snowball stemmer."""
    import qdrant_edge as edge  # here, not at the top: `import search.store` (the UI, the HTTP client) loads no Qdrant

    return edge.Bm25(edge.Bm25Config(
        k=1.2, b=0.75, avg_len=256.0, tokenizer=edge.TokenizerType.Word, language="english", lowercase=True,
    ))


def document_vector(text: str) -> edge.SparseVector:
    """The sparse vector stored for a chunk's text: term frequencies, saturated and length-normalised."""
    return _model().embed_document(text)


def query_vector(text: str) -> edge.SparseVector:
    """The sparse vector of a query: weight 1 per distinct term (the engine multiplies in the IDF)."""
    return _model().embed_query(text)
