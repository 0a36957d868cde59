"""`EchoRetriever` over an ingested fixture folder, on the tiny random model whose LM head is its input embeddings
(its default ranking, rerank, needs that; ranking quality is checked in the slow file)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from langchain_core.documents import Document
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnablePassthrough
from langchain_tests.integration_tests import RetrieversIntegrationTests
from pydantic import ValidationError
from qdrant_client import models

from embedder import Embedder
from search.langchain import EchoRetriever
from search.query.request import SearchQuery
from search.query.searcher import Searcher
from search.store import CollectionNotFoundError
from tests.langchain_fixtures import FIXTURE_FILES, build_collection

QUESTION = "How often should I feed a sourdough starter?"


def chunks_of(searcher: Searcher, source: str) -> int:
    """How many chunks the collection holds for `source`."""
    return sum(1 for _, record in searcher.store.records(with_text=False) if record.source == source)


@pytest.fixture(scope="module")
def tiny_store_path(tmp_path_factory: pytest.TempPathFactory, tied_embedder: Embedder) -> Path:
    return build_collection(tmp_path_factory.mktemp("lc-tiny"), tied_embedder, chunk_tokens=120)


@pytest.fixture(scope="module")
def tiny_searcher(tiny_store_path: Path, tied_embedder: Embedder) -> Iterator[Searcher]:
    searcher = Searcher.open(path=str(tiny_store_path), collection="docs", embedder=tied_embedder)
    yield searcher
    searcher.store.close()



class TestEchoRetrieverStandardSuite(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _searcher(self, tiny_searcher: Searcher) -> None:
        self.searcher = tiny_searcher

    @property
    def retriever_constructor(self) -> type[EchoRetriever]:
        return EchoRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"searcher": self.searcher}

    @property
    def retriever_query_example(self) -> str:
        return QUESTION


@pytest.mark.parametrize("mode", ["echo", "classical", "bm25", "hybrid", "rerank"])
def test_documents_are_the_searchers_hits_with_metadata(tiny_searcher: Searcher, mode: str) -> None:
    docs = EchoRetriever(searcher=tiny_searcher, k=5, mode=mode).invoke(QUESTION)
    hits = getattr(tiny_searcher.search(SearchQuery(QUESTION, k=5, mode=mode)), mode)
    assert len(docs) == len(hits) > 0
    assert len(hits) == 5 or mode == "bm25"  # BM25 finds only the chunks that share a word with the question
    for doc, hit in zip(docs, hits, strict=True):
        assert isinstance(doc, Document)
        assert doc.id == hit.id
        assert doc.page_content == hit.text
        assert all(line in FIXTURE_FILES[_relative(hit.source)] for line in doc.page_content.splitlines())
        assert doc.metadata["source"] == hit.source
        assert doc.metadata["chunk_index"] == hit.chunk_index
        assert doc.metadata["score"] == pytest.approx(hit.score)
        assert doc.metadata["rank"] == hit.rank
        assert doc.metadata["z"] == hit.z
        assert doc.metadata["vector"] == mode
        assert doc.metadata["content_hash"] == hit.record.content_hash
        assert "text" not in doc.metadata  # the text is the page content, not repeated
    assert [d.metadata["rank"] for d in docs] == list(range(1, len(hits) + 1))
    scores = [d.metadata["score"] for d in docs]
    assert scores == sorted(scores, reverse=True)


def test_echo_and_classical_rank_with_different_vectors(tiny_searcher: Searcher) -> None:
    echo = EchoRetriever(searcher=tiny_searcher, k=8, mode="echo").invoke(QUESTION)
    classical = EchoRetriever(searcher=tiny_searcher, k=8, mode="classical").invoke(QUESTION)
    assert [d.metadata["score"] for d in echo] != [d.metadata["score"] for d in classical]


def test_k_and_filter_per_call_override_the_fields(tiny_searcher: Searcher, tiny_store_path: Path) -> None:
    retriever = EchoRetriever(searcher=tiny_searcher, k=2)
    assert len(retriever.invoke(QUESTION)) == 2
    assert len(retriever.invoke(QUESTION, k=6)) == 6
    bees = str((tiny_store_path.parent / "docs" / "garden" / "bees.txt").resolve())
    n_bees = chunks_of(tiny_searcher, bees)
    assert 1 <= n_bees < 6
    only_bees = retriever.invoke(QUESTION, k=6, filter=bees)
    assert len(only_bees) == n_bees and {d.metadata["source"] for d in only_bees} == {bees}
    fixed = EchoRetriever(searcher=tiny_searcher, k=6, filter=[bees])
    assert [d.id for d in fixed.invoke(QUESTION)] == [d.id for d in only_bees]
    qdrant_filter = models.Filter(must=[models.FieldCondition(key="title", match=models.MatchValue(value="Mars"))])
    mars = retriever.invoke(QUESTION, k=6, filter=qdrant_filter)
    assert mars and all(d.metadata["title"] == "Mars" and d.metadata["source"].endswith("mars.md") for d in mars)


def test_instruction_changes_the_query_vector(tiny_searcher: Searcher) -> None:
    plain = EchoRetriever(searcher=tiny_searcher, k=8, mode="echo").invoke(QUESTION)
    other = EchoRetriever(searcher=tiny_searcher, k=8, mode="echo", instruction="Find the planet facts")
    assert [d.metadata["score"] for d in plain] != [d.metadata["score"] for d in other.invoke(QUESTION)]


async def test_async_matches_sync(tiny_searcher: Searcher) -> None:
    retriever = EchoRetriever(searcher=tiny_searcher, k=3)
    sync_docs = retriever.invoke(QUESTION)
    async_docs = await retriever.ainvoke(QUESTION, k=3)
    assert [(d.id, d.page_content) for d in async_docs] == [(d.id, d.page_content) for d in sync_docs]
    batched = await retriever.abatch([QUESTION, "Mars volcano"])
    assert [d.id for d in batched[0]] == [d.id for d in sync_docs] and len(batched[1]) == 3


def test_usable_in_an_lcel_chain(tiny_searcher: Searcher) -> None:
    retriever = EchoRetriever(searcher=tiny_searcher, k=2)
    prompt = ChatPromptTemplate.from_template("Answer from the context.\n\nContext:\n{context}\n\nQuestion: {question}")
    chain = {
        "context": retriever | (lambda docs: "\n\n".join(d.page_content for d in docs)),
        "question": RunnablePassthrough(),
    } | prompt
    rendered = chain.invoke(QUESTION).to_string()
    assert QUESTION in rendered
    for doc in retriever.invoke(QUESTION):
        assert doc.page_content in rendered


def test_opens_the_store_by_path_on_first_use(tmp_path: Path, tied_embedder: Embedder) -> None:
    path = build_collection(tmp_path, tied_embedder)
    retriever = EchoRetriever(path=str(path), collection="docs", embedder=tied_embedder, k=3)
    assert retriever._opened is None  # construction opens nothing
    docs = retriever.invoke(QUESTION)
    assert len(docs) == 3
    assert retriever.get_searcher() is retriever.get_searcher()
    retriever.get_searcher().store.close()


def test_bm25_mode_opens_no_model_and_finds_the_words(tmp_path: Path, tied_embedder: Embedder,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = build_collection(tmp_path, tied_embedder)

    def no_model(*args: object, **kwargs: object) -> None:
        raise AssertionError("mode bm25 loaded the model")

    monkeypatch.setattr(Embedder, "from_pretrained", no_model)
    retriever = EchoRetriever(path=str(path), collection="docs", k=2, mode="bm25")
    docs = retriever.invoke("Olympus Mons volcano")
    assert docs[0].metadata["source"].endswith("space/mars.md") and "Olympus Mons" in docs[0].page_content
    assert docs[0].metadata["vector"] == "bm25"
    assert retriever.get_searcher().embedder is None
    retriever.get_searcher().store.close()


def test_missing_collection_is_a_clear_error(tmp_path: Path, tied_embedder: Embedder) -> None:
    retriever = EchoRetriever(path=str(tmp_path / "qdrant"), collection="nothing", embedder=tied_embedder)
    with pytest.raises(CollectionNotFoundError, match="run `ingest PATH` first"):
        retriever.invoke(QUESTION)
    retriever.get_searcher().store.close()


def test_bad_arguments_are_refused(tiny_searcher: Searcher) -> None:
    with pytest.raises(ValidationError, match="either searcher= or path, not both"):
        EchoRetriever(searcher=tiny_searcher, path="/tmp/elsewhere")
    for bad in ({"k": 0}, {"mode": "both"}, {"unknown": 1}):
        with pytest.raises(ValidationError):
            EchoRetriever(**bad)
    with pytest.raises(ValueError, match="k must be between 1 and 100"):
        EchoRetriever(searcher=tiny_searcher).invoke(QUESTION, k=0)


def _relative(source: str) -> str:
    return next(name for name in FIXTURE_FILES if source.endswith(name))
