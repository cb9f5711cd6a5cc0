"""LlamaIndex: ``VectorStoreIndex.from_vector_store(...)`` → retriever → the expected node, with
filters, on every backend target; every filter operator and condition against LlamaIndex's own
in-memory filter semantics (``build_metadata_filter_fn``); the operators vecstore cannot
express raise; delete by document, nodes, clear, MMR and the async methods."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

pytest.importorskip("llama_index.core", reason="pip install 'vecstore[llamaindex]'")

from llama_index.core import Document, StorageContext, VectorStoreIndex  # noqa: E402
from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode  # noqa: E402
from llama_index.core.vector_stores.types import (  # noqa: E402
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
)
from llama_index.core.vector_stores.utils import build_metadata_filter_fn  # noqa: E402

import vecstore  # noqa: E402
from vecstore.embed import HashEmbedder  # noqa: E402
from vecstore.integrations.llamaindex import VecstoreEmbedding, VecstoreVectorStore  # noqa: E402

from .targets import FRAMEWORK_TARGETS, Target, params  # noqa: E402

EMBED = VecstoreEmbedding(embedder=HashEmbedder(64))
TOPICS = ["the heart pumps blood", "photosynthesis in green leaves", "volcanoes erupt lava",
          "neurons fire action potentials", "glaciers carve valleys", "enzymes speed up reactions"]


@pytest.fixture(params=params(FRAMEWORK_TARGETS))
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    target: Target = request.param
    return target.resolve(tmp_path, request)


@pytest.fixture
async def li(target_url: str) -> AsyncIterator[VecstoreVectorStore]:
    store = VecstoreVectorStore(target_url, f"li-{uuid.uuid4().hex[:12]}")
    yield store
    store.clear()
    await store.aclose()


def _nodes() -> list[TextNode]:
    nodes = []
    for i, text in enumerate(TOPICS * 2):
        meta = {"year": 2018 + i % 6, "score": 0.5 * i, "field": ["bio", "geo"][i % 2], "ok": i % 3 == 0}
        if i == 11:
            del meta["field"]  # one node without the key: != / nin must match it, == / in must not
        node = TextNode(id_=f"n{i}", text=text, metadata=meta)
        node.relationships[NodeRelationship.SOURCE] = RelatedNodeInfo(node_id=f"doc{i % 4}")
        node.embedding = EMBED.get_text_embedding(text)
        nodes.append(node)
    return nodes


def test_index_from_vector_store_retrieves_the_expected_node_with_filters(li: VecstoreVectorStore) -> None:
    docs = [Document(text=t, metadata={"topic": t.split()[1], "n": i}, id_=f"doc{i}") for i, t in enumerate(TOPICS)]
    VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=li),
                                    embed_model=EMBED)
    index = VectorStoreIndex.from_vector_store(li, embed_model=EMBED)
    (best,) = index.as_retriever(similarity_top_k=1).retrieve("volcanoes erupt lava")
    assert best.node.get_content() == "volcanoes erupt lava" and best.node.ref_doc_id == "doc2"
    only = MetadataFilters(filters=[MetadataFilter(key="n", value=3, operator=FilterOperator.GTE)])
    got = index.as_retriever(similarity_top_k=2, filters=only).retrieve("volcanoes erupt lava")
    assert len(got) == 2 and all(r.node.metadata["n"] >= 3 for r in got)


CASES = [
    (FilterOperator.EQ, "field", "bio"), (FilterOperator.NE, "field", "bio"), (FilterOperator.GT, "year", 2020),
    (FilterOperator.GTE, "score", 2.5), (FilterOperator.LT, "year", 2020), (FilterOperator.LTE, "score", 1.0),
    (FilterOperator.IN, "year", [2018, 2023]), (FilterOperator.NIN, "field", ["geo"]), (FilterOperator.EQ, "year", 2019),
    (FilterOperator.IN, "year", []), (FilterOperator.NIN, "year", []),
]


def _reference(nodes: list[TextNode], filters: MetadataFilters) -> set[str]:
    by_id = {n.node_id: n.metadata for n in nodes}
    match = build_metadata_filter_fn(lambda nid: by_id[nid], filters)
    return {nid for nid in by_id if match(nid)}


def test_every_operator_and_condition_matches_llamaindex_semantics(li: VecstoreVectorStore) -> None:
    nodes = _nodes()
    li.add(nodes)
    singles = [MetadataFilter(key=k, value=v, operator=op) for op, k, v in CASES]
    combos = [MetadataFilters(filters=[f]) for f in singles]
    for a, b in itertools.combinations(singles[:6], 2):
        for cond in (FilterCondition.AND, FilterCondition.OR, FilterCondition.NOT):
            combos.append(MetadataFilters(filters=[a, b], condition=cond))
    for filters in combos:
        got = {n.node_id for n in li.get_nodes(filters=filters)}
        assert got == _reference(nodes, filters), filters
    nested = MetadataFilters(filters=[singles[0], MetadataFilters(filters=singles[2:4], condition=FilterCondition.OR)])
    want = {n.node_id for n in nodes if n.metadata.get("field") == "bio"
            and (n.metadata["year"] > 2020 or n.metadata["score"] >= 2.5)}
    assert {n.node_id for n in li.get_nodes(filters=nested)} == want


@pytest.mark.parametrize("op", [FilterOperator.ANY, FilterOperator.ALL, FilterOperator.CONTAINS,
                                FilterOperator.TEXT_MATCH, FilterOperator.TEXT_MATCH_INSENSITIVE,
                                FilterOperator.IS_EMPTY])
def test_operators_vecstore_cannot_express_raise(op: FilterOperator, tmp_path: Path) -> None:
    store = VecstoreVectorStore("faiss://", "li")
    store.add(_nodes()[:2])
    filters = MetadataFilters(filters=[MetadataFilter(key="field", value=["bio"], operator=op)])
    with pytest.raises(vecstore.FilterError, match=op.value):
        store.get_nodes(filters=filters)
    with pytest.raises(vecstore.FilterError):
        store.query(VectorStoreQuery(query_embedding=_nodes()[0].embedding, similarity_top_k=2, filters=filters))


def test_delete_by_document_nodes_and_clear(li: VecstoreVectorStore) -> None:
    nodes = _nodes()
    li.add(nodes)
    li.delete("doc1")
    assert {n.node_id for n in li.get_nodes()} == {n.node_id for n in nodes if n.ref_doc_id != "doc1"}
    li.delete_nodes(["n0", "n2"])
    li.delete_nodes(filters=MetadataFilters(filters=[MetadataFilter(key="year", value=2023)]))
    left = {n.node_id for n in li.get_nodes()}
    assert left == {n.node_id for n in nodes if n.ref_doc_id != "doc1" and n.node_id not in ("n0", "n2")
                    and n.metadata["year"] != 2023}
    assert [n.node_id for n in li.get_nodes(node_ids=["n4", "n1", "zzz"])] == ["n4"]
    back = li.get_nodes(node_ids=["n4"])[0]
    assert back.metadata == nodes[4].metadata and back.embedding == pytest.approx(nodes[4].embedding, abs=1e-6)
    li.clear()
    assert li.get_nodes() == []


async def test_clear_keeps_the_collections_schema() -> None:
    """clear() drops the collection and the next add makes it again: with the schema it had."""
    with vecstore.connect("faiss://") as store:
        store.collection("typed", dim=len(_nodes()[0].embedding), schema={"year": "int"})
        li = VecstoreVectorStore(store, "typed")
        for clear in (li.clear, li.aclear):
            li.add(_nodes())
            result = clear()
            if result is not None:
                await result
            assert not store.has_collection("typed")
            await li.async_add(_nodes())
            assert store.collection("typed").schema == {"year": "int"}


async def test_query_modes_doc_ids_and_async(li: VecstoreVectorStore) -> None:
    nodes = _nodes()
    li.add(nodes)
    q = nodes[3].embedding
    res = li.query(VectorStoreQuery(query_embedding=q, similarity_top_k=3, doc_ids=["doc3", "doc0"]))
    assert res.ids[0] == "n3" and all(n.ref_doc_id in ("doc3", "doc0") for n in res.nodes)
    assert res.similarities == sorted(res.similarities, reverse=True)
    mmr = li.query(VectorStoreQuery(query_embedding=q, similarity_top_k=3, mode=VectorStoreQueryMode.MMR,
                                    mmr_threshold=0.2))
    assert len(mmr.ids) == 3 and len(set(mmr.ids)) == 3 and mmr.ids[0] in ("n3", "n9")
    with pytest.raises(vecstore.UnsupportedOperationError):
        li.query(VectorStoreQuery(query_embedding=q, mode=VectorStoreQueryMode.SPARSE))

    await li.adelete_nodes(["n3"])
    found = await li.aquery(VectorStoreQuery(query_embedding=q, similarity_top_k=1))
    assert found.ids == ["n9"]
    await li.async_add([nodes[3]])
    assert [n.node_id for n in await li.aget_nodes(node_ids=["n3"])] == ["n3"]
    assert li._col.aio._view().native == (li.client.spec.mode == "server")


def test_real_model_round_trip(minilm, tmp_path: Path) -> None:
    url = f"faiss://{tmp_path}/li"
    emb = VecstoreEmbedding(embedder=minilm)
    store = VecstoreVectorStore(url, "facts")
    docs = [Document(text=t, id_=f"d{i}") for i, t in enumerate(
        ["Aspirin inhibits platelet aggregation.", "The Eiffel Tower is in Paris.", "Insulin lowers blood glucose."])]
    VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store),
                                    embed_model=emb)
    store.close()
    again = VecstoreVectorStore(url, "facts")
    (hit,) = VectorStoreIndex.from_vector_store(again, embed_model=emb).as_retriever(similarity_top_k=1).retrieve(
        "what regulates blood sugar?")
    assert hit.node.ref_doc_id == "d2"
    again.close()
