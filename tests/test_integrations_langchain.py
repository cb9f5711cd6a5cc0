"""LangChain's own standard suite, ``VectorStoreIntegrationTests`` from ``langchain-tests``,
unmodified (sync and async cases), on every backend target; then what the suite does not
cover: filters, relevance scores, MMR, retrievers, metadata that is not flat."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

pytest.importorskip("langchain_core", reason="pip install 'vecstore[langchain]'")
pytest.importorskip("langchain_tests", reason="pip install langchain-tests")

from langchain_core.documents import Document  # noqa: E402
from langchain_core.embeddings import DeterministicFakeEmbedding  # noqa: E402
from langchain_tests.integration_tests import VectorStoreIntegrationTests  # noqa: E402

import vecstore  # noqa: E402
from vecstore.integrations.langchain import VecstoreEmbeddings, VecstoreVectorStore  # noqa: E402

from .targets import FRAMEWORK_TARGETS, Target, params  # noqa: E402


@pytest.fixture(params=params(FRAMEWORK_TARGETS))
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    target: Target = request.param
    return target.resolve(tmp_path, request)


def _fresh(url: str, embedding=None, **kwargs) -> VecstoreVectorStore:
    return VecstoreVectorStore(url, f"lc-{uuid.uuid4().hex[:12]}", embedding or DeterministicFakeEmbedding(size=6),
                               **kwargs)


class TestStandardSuite(VectorStoreIntegrationTests):
    """langchain-tests' cases as shipped; only the fixture is ours: an empty collection per test."""

    @pytest.fixture
    async def vectorstore(self, target_url: str) -> AsyncIterator[VecstoreVectorStore]:  # type: ignore[override]
        store = _fresh(target_url, self.get_embeddings())
        try:
            yield store
        finally:
            store.drop()
            await store.aclose()  # the async cases' own connection, on their loop


@pytest.fixture
async def lc(target_url: str) -> AsyncIterator[VecstoreVectorStore]:
    store = _fresh(target_url, DeterministicFakeEmbedding(size=16))
    yield store
    store.drop()
    await store.aclose()


DOCS = [Document(page_content=f"doc {i}", metadata={"cat": i % 3, "lang": "en" if i % 2 else "es"}, id=f"d{i}")
        for i in range(12)]


def test_filter_in_vecstore_language_and_retriever(lc: VecstoreVectorStore) -> None:
    lc.add_documents(DOCS)
    found = lc.similarity_search("doc 4", k=12, filter={"cat": 1, "lang": "es"})
    want = {d.id for d in DOCS if d.metadata == {"cat": 1, "lang": "es"}}
    assert {d.id for d in found} == want and want
    retriever = lc.as_retriever(search_kwargs={"k": 3, "filter": {"cat": {"$in": [0, 2]}}})
    got = retriever.invoke("doc 7")
    assert len(got) == 3 and all(d.metadata["cat"] in (0, 2) for d in got)


def test_relevance_scores_in_unit_interval_and_ordered(lc: VecstoreVectorStore) -> None:
    lc.add_documents(DOCS)
    scored = lc.similarity_search_with_relevance_scores("doc 5", k=12)
    assert scored[0][0].id == "d5" and scored[0][1] == pytest.approx(1.0, abs=1e-5)
    values = [s for _, s in scored]
    assert all(0.0 <= s <= 1.0 for s in values) and values == sorted(values, reverse=True)


def test_mmr_returns_k_distinct_starting_with_the_best(lc: VecstoreVectorStore) -> None:
    lc.add_documents(DOCS)
    picked = lc.max_marginal_relevance_search("doc 2", k=4, fetch_k=10, lambda_mult=0.3)
    assert len(picked) == 4 and len({d.id for d in picked}) == 4 and picked[0].id == "d2"
    assert lc.max_marginal_relevance_search("doc 2", k=3, filter={"cat": 0})[0].metadata["cat"] == 0


def test_metadata_that_is_not_flat_round_trips(lc: VecstoreVectorStore) -> None:
    meta = {"tags": ["a", "b"], "nested": {"x": 1}, "none": None, "big": 2**60, "odd key": "v", "_vs_mine": 1,
            "page": 3}
    lc.add_texts(["hello"], [meta], ids=["m"])
    assert lc.get_by_ids(["m"])[0].metadata == meta
    assert [d.id for d in lc.similarity_search("hello", k=1, filter={"page": 3})] == ["m"]


async def test_async_methods_on_vecstore_aio(lc: VecstoreVectorStore) -> None:
    """The async methods run on vecstore.aio: a server's native async client, else the worker pool."""
    await lc.aadd_documents(DOCS)
    found = await lc.asimilarity_search("doc 1", k=12, filter={"lang": "en"})
    assert {d.id for d in found} == {d.id for d in DOCS if d.metadata["lang"] == "en"}
    assert [d.id for d in await lc.aget_by_ids(["d3", "nope", "d1"])] == ["d3", "d1"]
    assert (await lc.amax_marginal_relevance_search("doc 2", k=2))[0].id == "d2"
    await lc.adelete(["d2"])
    assert lc.get_by_ids(["d2"]) == []  # the sync side sees the async write
    view = lc._col.aio._view()
    assert view.native == (lc.store.spec.mode == "server")


def test_async_methods_from_two_event_loops(target_url: str) -> None:
    """asyncio.run twice on one store object: each loop gets what it needs (a native client is
    opened again on the new loop; the worker pool serves any loop)."""
    import asyncio

    store = _fresh(target_url, DeterministicFakeEmbedding(size=16))
    try:
        asyncio.run(store.aadd_documents(DOCS[:4]))
        found = asyncio.run(store.asimilarity_search("doc 3", k=1))
        assert [d.id for d in found] == ["d3"]
    finally:
        store.drop()
        store.close()


def test_bad_filter_and_bad_metadata_are_typed_errors(lc: VecstoreVectorStore) -> None:
    lc.add_documents(DOCS[:2])
    with pytest.raises(vecstore.FilterError):
        lc.similarity_search("x", filter={"cat": {"$regex": "a"}})
    with pytest.raises(vecstore.InvalidInputError):
        lc.add_texts(["bad"], [{"when": object()}])
    assert lc.collection.count() == 2


def test_from_texts_and_vecstore_embedder(minilm, tmp_path: Path) -> None:
    """The real model through vecstore's own embedder, persisted in a Faiss directory and
    read back by a second object (its own connection)."""
    url = f"faiss://{tmp_path}/lc"
    texts = ["Aspirin inhibits platelet aggregation.", "The Eiffel Tower is in Paris.",
             "Insulin regulates blood glucose."]
    with VecstoreVectorStore.from_texts(texts, VecstoreEmbeddings(embedder=minilm), [{"n": i} for i in range(3)],
                                        ids=["a", "b", "c"], url=url, collection="facts"):
        pass
    with VecstoreVectorStore(url, "facts", VecstoreEmbeddings(embedder=minilm)) as again:
        assert again.similarity_search("what lowers blood sugar?", k=1)[0].id == "c"
