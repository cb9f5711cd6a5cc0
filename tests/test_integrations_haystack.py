"""Haystack's own ``DocumentStoreBaseTests`` (``haystack.testing.document_store``), unmodified,
on every backend target; then the retriever component, serialisation and the mapping's edges."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("haystack", reason="pip install 'vecstore[haystack]'")

from haystack import Document, Pipeline  # noqa: E402
from haystack.dataclasses import ByteStream, SparseEmbedding  # noqa: E402
from haystack.document_stores.errors import DuplicateDocumentError  # noqa: E402
from haystack.document_stores.types import DuplicatePolicy  # noqa: E402
from haystack.errors import FilterError  # noqa: E402
from haystack.testing.document_store import DocumentStoreBaseTests  # noqa: E402

from vecstore.integrations.haystack import VecstoreDocumentStore, VecstoreEmbeddingRetriever  # noqa: E402

from .targets import FRAMEWORK_TARGETS, Target, params  # noqa: E402


@pytest.fixture(params=params(FRAMEWORK_TARGETS))
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    target: Target = request.param
    return target.resolve(tmp_path, request)


def _fresh(url: str, **kwargs) -> VecstoreDocumentStore:
    kwargs.setdefault("embedding_dim", 768)
    kwargs.setdefault("similarity", "dot_product")
    return VecstoreDocumentStore(url, f"hs-{uuid.uuid4().hex[:12]}", **kwargs)


def _key(doc: Document) -> str:
    return doc.id


class TestStandardSuite(DocumentStoreBaseTests):
    """The suite's cases as shipped.  Ours: the fixture, the one case the suite leaves to each
    store (``test_write_documents``: the default policy), and its documented comparison hook —
    the order of ``filter_documents`` is the backend's, and embeddings come back as float32."""

    @pytest.fixture
    def document_store(self, target_url: str) -> Iterator[VecstoreDocumentStore]:
        store = _fresh(target_url)
        try:
            yield store
        finally:
            store.drop()
            store.close()

    @staticmethod
    def assert_documents_are_equal(received: list[Document], expected: list[Document]) -> None:
        assert len(received) == len(expected)
        for got, want in zip(sorted(received, key=_key), sorted(expected, key=_key)):
            if want.embedding is None:
                assert got.embedding is None
            else:
                assert got.embedding == pytest.approx(want.embedding, rel=1e-6, abs=1e-7)
            assert (got.id, got.content, got.meta, got.blob, got.score, got.sparse_embedding) == (
                want.id, want.content, want.meta, want.blob, want.score, want.sparse_embedding)

    def test_write_documents(self, document_store: VecstoreDocumentStore) -> None:
        doc = Document(content="test doc")
        assert document_store.write_documents([doc]) == 1
        with pytest.raises(DuplicateDocumentError):  # the default policy is FAIL
            document_store.write_documents([doc])
        self.assert_documents_are_equal(document_store.filter_documents(), [doc])


@pytest.fixture
def hs(target_url: str) -> Iterator[VecstoreDocumentStore]:
    store = _fresh(target_url, embedding_dim=4, similarity="cosine")
    yield store
    store.drop()
    store.close()


def _docs() -> list[Document]:
    return [
        Document(id=f"d{i}", content=f"text {i}", embedding=[1.0, float(i), 0.5, -1.0 * (i % 2)],
                 meta={"n": i, "kind": "odd" if i % 2 else "even", "when": f"20{10 + i}-01-01T00:00:00"})
        for i in range(8)
    ] + [Document(id="plain", content="no embedding", meta={"kind": "even"})]


def test_retriever_in_a_pipeline_with_filters(hs: VecstoreDocumentStore) -> None:
    hs.write_documents(_docs())
    pipe = Pipeline()
    pipe.add_component("retriever", VecstoreEmbeddingRetriever(hs, top_k=3, scale_score=True))
    out = pipe.run({"retriever": {"query_embedding": [1.0, 6.0, 0.5, 0.0],
                                  "filters": {"field": "meta.kind", "operator": "==", "value": "even"}}})
    docs = out["retriever"]["documents"]
    assert [d.id for d in docs][0] == "d6" and len(docs) == 3
    assert all(d.meta["kind"] == "even" and 0.0 <= d.score <= 1.0 for d in docs)
    assert "plain" not in {d.id for d in hs.embedding_retrieval([1.0, 0.0, 0.0, 0.0], top_k=20)}


def test_dates_compare_as_instants_and_none_means_missing(hs: VecstoreDocumentStore) -> None:
    hs.write_documents(_docs())
    later = hs.filter_documents({"field": "meta.when", "operator": ">=", "value": "2015-01-01T00:00:00+00:00"})
    assert sorted(d.id for d in later) == ["d5", "d6", "d7"]
    same = hs.filter_documents({"field": "meta.when", "operator": "==", "value": "2012-01-01T01:00:00+01:00"})
    assert [d.id for d in same] == ["d2"]
    assert [d.id for d in hs.filter_documents({"field": "meta.n", "operator": "==", "value": None})] == ["plain"]
    with pytest.raises(FilterError):
        hs.filter_documents({"field": "content", "operator": "==", "value": "text 1"})
    with pytest.raises(FilterError):
        hs.filter_documents({"field": "meta.n", "operator": ">", "value": float("nan")})


def test_blob_sparse_and_json_meta_round_trip(hs: VecstoreDocumentStore) -> None:
    doc = Document(id="b", content=None, blob=ByteStream(b"\x00\xffbytes", meta={"a": 1}, mime_type="image/png"),
                   sparse_embedding=SparseEmbedding(indices=[1, 5], values=[0.5, 0.25]),
                   meta={"list": [1, 2], "nested": {"x": None}, "none": None}, embedding=[0.0, 1.0, 0.0, 0.0])
    hs.write_documents([doc])
    (back,) = hs.filter_documents()
    assert (back.blob, back.sparse_embedding, back.meta, back.content) == (doc.blob, doc.sparse_embedding,
                                                                          doc.meta, None)
    assert back.embedding == pytest.approx([0.0, 1.0, 0.0, 0.0])
    assert hs.filter_documents({"field": "meta.none", "operator": "==", "value": None})
    assert not hs.filter_documents({"field": "meta.list", "operator": "==", "value": None})


def test_skip_writes_only_new_and_fail_writes_nothing(hs: VecstoreDocumentStore) -> None:
    docs = _docs()
    assert hs.write_documents(docs[:3]) == 3
    with pytest.raises(DuplicateDocumentError):
        hs.write_documents(docs[2:5], policy=DuplicatePolicy.FAIL)
    assert hs.count_documents() == 3
    assert hs.write_documents(docs[2:5], policy=DuplicatePolicy.SKIP) == 2
    assert hs.count_documents() == 5


def test_to_dict_keeps_url_without_secret() -> None:
    store = VecstoreDocumentStore("qdrant://user:s3cret@localhost:6333?api_key=k3y&timeout=5", "c", embedding_dim=8)
    data = store.to_dict()
    assert "s3cret" not in str(data) and "k3y" not in str(data)
    chroma = VecstoreDocumentStore("chroma://localhost:8000", "c", headers={"Authorization": "Bearer t0ken"})
    assert "t0ken" not in str(chroma.to_dict())
    again = VecstoreDocumentStore.from_dict(data)
    assert again.store.spec.host == "localhost" and again.embedding_dim == 8
    retriever = VecstoreEmbeddingRetriever.from_dict(VecstoreEmbeddingRetriever(store, top_k=4).to_dict())
    assert retriever.top_k == 4 and retriever.document_store.to_dict() == data
