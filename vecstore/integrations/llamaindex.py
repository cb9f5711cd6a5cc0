"""LlamaIndex on any vecstore backend (extra ``llamaindex``).

>>> from llama_index.core import StorageContext, VectorStoreIndex
>>> from vecstore.integrations.llamaindex import VecstoreVectorStore
>>> store = VecstoreVectorStore("milvus:///data/m.db", "docs")           # any vecstore URL
>>> index = VectorStoreIndex.from_documents(docs, storage_context=StorageContext.from_defaults(vector_store=store))
>>> VectorStoreIndex.from_vector_store(store).as_retriever(filters=MetadataFilters(...)).retrieve("question")

* Nodes are stored whole (``stores_text=True``): the record's text is the node's content, its
  metadata the node's metadata plus LlamaIndex's own keys (``_node_content``, ``ref_doc_id``, ...);
  values the contract cannot store natively round-trip as JSON (:mod:`vecstore.integrations._common`).
* ``MetadataFilters`` run natively on every backend: operators ``==``, ``!=``, ``>``, ``>=``,
  ``<``, ``<=`` (numbers), ``in``, ``nin``; conditions ``AND``, ``OR`` and ``NOT`` (none of the
  filters match, as LlamaIndex's in-memory store), nested ``MetadataFilters`` too.
  ``any``, ``all``, ``contains``, ``text_match``, ``text_match_insensitive`` and ``is_empty``
  cannot be expressed in vecstore's filter language and raise :class:`vecstore.FilterError` —
  never silently ignored.
* Query modes ``default`` and ``mmr`` (``mmr_threshold``; candidates: ``mmr_prefetch_factor`` × k,
  default 4); others raise :class:`vecstore.UnsupportedOperationError`.  Similarities are the
  contract's scores (higher is better).
* The async methods (``async_add``, ``aquery``, ...) run on :mod:`vecstore.aio`: a server's
  native async client (a second connection), or the worker pool for in-process engines; close
  with ``await store.aclose()`` in asyncio code.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import numpy as np
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.embeddings import BaseEmbedding
from llama_index.core.indices.query.embedding_utils import get_top_k_mmr_embeddings
from llama_index.core.schema import BaseNode, MetadataMode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryMode,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

from ..errors import FilterError, InvalidInputError, UnsupportedOperationError
from ..store import VectorStore
from ._common import NOTHING, LazyCollection, from_store_metadata, open_store, to_store_metadata

__all__ = ["VecstoreEmbedding", "VecstoreVectorStore", "to_vecstore_filter"]


def _mmr(query: VectorStoreQuery) -> bool:
    return query.mode == VectorStoreQueryMode.MMR

#: A reserved copy of the node id, so that queries can be restricted to ``node_ids``.
NODE_ID = "_vs_node"
_OPERATORS = {FilterOperator.EQ: "$eq", FilterOperator.NE: "$ne", FilterOperator.GT: "$gt",
              FilterOperator.GTE: "$gte", FilterOperator.LT: "$lt", FilterOperator.LTE: "$lte",
              FilterOperator.IN: "$in", FilterOperator.NIN: "$nin"}


def to_vecstore_filter(filters: MetadataFilters | None) -> dict[str, Any] | None:
    """LlamaIndex's ``MetadataFilters`` in vecstore's filter language (``None``: no filter)."""
    if filters is None or not filters.filters:
        return None
    parts = []
    for item in filters.filters:
        if isinstance(item, MetadataFilters):
            nested = to_vecstore_filter(item)
            if nested is not None:
                parts.append(nested)
            continue
        parts.append(_one(item))
    if not parts:
        return None
    condition = filters.condition or FilterCondition.AND
    if condition == FilterCondition.AND:
        return {"$and": parts}
    if condition == FilterCondition.OR:
        return {"$or": parts}
    if condition == FilterCondition.NOT:
        return {"$not": {"$or": parts}}
    raise FilterError(f"unknown filter condition {condition!r}")


def _one(item: MetadataFilter) -> dict[str, Any]:
    op = _OPERATORS.get(FilterOperator(item.operator))
    if op is None:
        raise FilterError(
            f"vecstore cannot express the LlamaIndex filter operator {FilterOperator(item.operator).value!r}"
            f" (on {item.key!r}); it has: {', '.join(o.value for o in _OPERATORS)}"
        )
    value = list(item.value) if isinstance(item.value, (list, tuple)) else item.value
    if op in ("$in", "$nin") and value == []:  # as LlamaIndex's own store: in [] is nothing, nin [] all
        return NOTHING if op == "$in" else {"$not": NOTHING}
    return {item.key: {op: value}}


class VecstoreEmbedding(BaseEmbedding):
    """vecstore's embedder (:func:`vecstore.embed.load_embedder`) as a LlamaIndex embedding model."""

    _embedder: Any = PrivateAttr()

    def __init__(self, model: str | None = None, embedder: Any = None, **options: Any) -> None:
        if embedder is None:
            from ..embed import load_embedder

            embedder = load_embedder(model, **options)
        super().__init__(model_name=embedder.name)
        self._embedder = embedder

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._embedder.embed_queries([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._embedder.embed_documents([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._embedder.embed_documents(list(texts)).tolist()

    async def _aget_text_embedding(self, text: str) -> list[float]:
        return await asyncio.to_thread(self._get_text_embedding, text)

    async def _aget_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self._get_text_embeddings, texts)


class VecstoreVectorStore(BasePydanticVectorStore):
    """A LlamaIndex vector store on the collection ``collection`` of the vecstore at ``url``;
    the collection is created on the first ``add`` with the nodes' embedding dimension."""

    stores_text: bool = True
    flat_metadata: bool = False

    _store: Any = PrivateAttr()
    _owned: bool = PrivateAttr()
    _col: Any = PrivateAttr()

    def __init__(self, url: str | VectorStore = "faiss://", collection: str = "llamaindex", *,
                 metric: str = "cosine", index: str | None = None, index_options: dict[str, Any] | None = None,
                 **connect_options: Any) -> None:
        super().__init__(stores_text=True)
        self._store, self._owned = open_store(url, connect_options)
        self._col = LazyCollection(self._store, collection, metric, index, index_options)

    @classmethod
    def class_name(cls) -> str:
        return "VecstoreVectorStore"

    @property
    def client(self) -> Any:
        """The vecstore store (:class:`vecstore.VectorStore`)."""
        return self._store

    @property
    def collection(self) -> Any:
        return self._col.get()

    # -- writes ----------------------------------------------------------------------------

    def add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        columns = self._columns(nodes)
        self._col.ensure(columns["vectors"].shape[1]).upsert(**columns)
        return columns["ids"]

    async def async_add(self, nodes: Sequence[BaseNode], **kwargs: Any) -> list[str]:
        if not nodes:
            return []
        columns = self._columns(nodes)
        col = await self._col.aio.ensure(columns["vectors"].shape[1])
        await col.upsert(**columns)
        return columns["ids"]

    @staticmethod
    def _columns(nodes: Sequence[BaseNode]) -> dict[str, Any]:
        vectors = []
        for node in nodes:
            if node.embedding is None:
                raise InvalidInputError(f"node {node.node_id!r} has no embedding (embed it, or let the index do so)")
            vectors.append(node.embedding)
        metas = []
        for node in nodes:
            meta = to_store_metadata(node_to_metadata_dict(node, remove_text=True, flat_metadata=False),
                                     record=node.node_id)
            meta[NODE_ID] = node.node_id
            metas.append(meta)
        return {"ids": [n.node_id for n in nodes], "vectors": np.asarray(vectors, dtype=np.float32),
                "texts": [n.get_content(metadata_mode=MetadataMode.NONE) for n in nodes], "metadata": metas}

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the source document ``ref_doc_id``."""
        col = self._col.get()
        if col is not None:
            col.delete(filter={"ref_doc_id": ref_doc_id})

    def delete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None,
                     **delete_kwargs: Any) -> None:
        """Delete nodes by id and/or filter (both given: the nodes matching both)."""
        col = self._col.get()
        if node_ids is not None and not node_ids and filters is None:
            return  # nothing named, nothing deleted
        where = self._where(node_ids, filters)
        if where is None:
            raise InvalidInputError("delete_nodes() needs node_ids or filters (clear() removes everything)")
        if col is not None:
            col.delete(filter=where)

    def clear(self) -> None:
        """Remove every node (the collection is dropped; the next ``add`` creates it again)."""
        self._col.drop()

    # -- reads -----------------------------------------------------------------------------------

    def get_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None) -> list[BaseNode]:
        col = self._col.get()
        if col is None:
            return []
        where = self._where(node_ids, filters)
        return [self._node(r.text, r.metadata, r.vector) for batch in col.iterate(1000, filter=where)
                for r in batch]

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        where, fetch = self._plan(query, kwargs)
        col = self._col.get()
        if col is None:
            return self._result(query, [])
        return self._result(query, col.search(np.asarray(query.query_embedding, dtype=np.float32), fetch,
                                              filter=where, include_vectors=_mmr(query)))

    async def aquery(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        where, fetch = self._plan(query, kwargs)
        col = await self._col.aio.get()
        if col is None:
            return self._result(query, [])
        return self._result(query, await col.search(np.asarray(query.query_embedding, dtype=np.float32), fetch,
                                                    filter=where, include_vectors=_mmr(query)))

    def _plan(self, query: VectorStoreQuery, kwargs: dict[str, Any]) -> tuple[dict[str, Any] | None, int]:
        """The vecstore filter and how many hits to fetch (more for MMR to choose from)."""
        if query.mode not in (VectorStoreQueryMode.DEFAULT, VectorStoreQueryMode.MMR):
            raise UnsupportedOperationError(f"query mode {query.mode.value!r}: vecstore has default and mmr")
        if query.query_embedding is None:
            raise InvalidInputError("VectorStoreQuery needs a query_embedding")
        where = self._where(query.node_ids, query.filters)
        if query.doc_ids:
            docs = {"ref_doc_id": {"$in": list(query.doc_ids)}}
            where = {"$and": [where, docs]} if where else docs
        k = query.similarity_top_k
        return where, k * int(kwargs.get("mmr_prefetch_factor", 4)) if _mmr(query) else k

    def _result(self, query: VectorStoreQuery, hits: list[Any]) -> VectorStoreQueryResult:
        if _mmr(query) and hits:
            _, chosen = get_top_k_mmr_embeddings(
                query.query_embedding or [], [h.vector.tolist() for h in hits], similarity_top_k=query.similarity_top_k,
                embedding_ids=list(range(len(hits))), mmr_threshold=query.mmr_threshold)
            hits = [hits[i] for i in chosen]
        return VectorStoreQueryResult(nodes=[self._node(h.text, h.metadata, None) for h in hits],
                                      similarities=[h.score for h in hits], ids=[h.id for h in hits])

    # -- async: vecstore.aio (a server's native async client, else the worker pool) --------------------

    async def adelete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        col = await self._col.aio.get()
        if col is not None:
            await col.delete(filter={"ref_doc_id": ref_doc_id})

    async def adelete_nodes(self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None,
                            **delete_kwargs: Any) -> None:
        if node_ids is not None and not node_ids and filters is None:
            return
        where = self._where(node_ids, filters)
        if where is None:
            raise InvalidInputError("adelete_nodes() needs node_ids or filters (aclear() removes everything)")
        col = await self._col.aio.get()
        if col is not None:
            await col.delete(filter=where)

    async def aclear(self) -> None:
        await self._col.aio.get()  # its schema, for the collection the next write makes
        store = self._col.aio._view()
        await store.drop_collection(self._col.name)
        self._col._col = None
        self._col.aio._col = None

    async def aget_nodes(self, node_ids: list[str] | None = None,
                         filters: MetadataFilters | None = None) -> list[BaseNode]:
        col = await self._col.aio.get()
        if col is None:
            return []
        where = self._where(node_ids, filters)
        return [self._node(r.text, r.metadata, r.vector) async for batch in col.iterate(1000, filter=where)
                for r in batch]

    # -- vecstore's additions -------------------------------------------------------------------------

    def close(self) -> None:
        self._col.close()
        if self._owned:
            self._store.close()

    async def aclose(self) -> None:
        await self._col.aio.close()
        if self._owned:
            self._store.close()

    @staticmethod
    def _where(node_ids: list[str] | None, filters: MetadataFilters | None) -> dict[str, Any] | None:
        parts = []
        if node_ids:  # as LlamaIndex's stores: an empty list restricts nothing (retrievers pass one)
            parts.append({NODE_ID: {"$in": list(node_ids)}})
        where = to_vecstore_filter(filters)
        if where is not None:
            parts.append(where)
        return {"$and": parts} if parts else None

    @staticmethod
    def _node(text: str | None, metadata: dict[str, Any], vector: Any) -> BaseNode:
        node = metadata_dict_to_node(from_store_metadata(metadata), text=text)
        if vector is not None:
            node.embedding = np.asarray(vector, dtype=np.float32).tolist()
        return node
