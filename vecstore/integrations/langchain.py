"""LangChain on any vecstore backend (extra ``langchain``).

>>> from vecstore.integrations.langchain import VecstoreVectorStore
>>> store = VecstoreVectorStore("qdrant:///data/qd", "docs", embedding)   # any vecstore URL
>>> store.add_documents(docs)
>>> store.as_retriever(search_kwargs={"k": 5, "filter": {"lang": "en"}}).invoke("question")

* ``embedding`` is any LangChain ``Embeddings``; leave it out to use vecstore's own embedder
  (all-MiniLM-L6-v2 unless ``model=`` names another sentence-transformers model).
* The collection is created on the first write, with the dimension of the first vectors;
  ``metric`` (default ``cosine``), ``index`` and index options apply then.
* ``filter`` is vecstore's filter language (:mod:`vecstore.filters`), the same on every backend.
* ``similarity_search_with_score`` returns the contract's score (higher is better: cosine
  similarity, dot product, or minus the L2 distance); ``similarity_search_with_relevance_scores``
  maps it to [0, 1] by :func:`vecstore.integrations._common.relevance`.
* The async methods (``aadd_documents``, ``asimilarity_search``, ...) run on :mod:`vecstore.aio`:
  a server's native async client (a second connection), or the worker pool for in-process
  engines; close with ``await store.aclose()`` in asyncio code.
* Metadata round-trips whole; values the contract cannot filter on (``None``, lists, dicts)
  are kept as JSON (see :mod:`vecstore.integrations._common`).
* Extra keyword arguments of the searches (``exact=True``, ``ef_search=...``) go to
  :meth:`vecstore.Collection.search`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore as LangChainVectorStore
from langchain_core.vectorstores.utils import maximal_marginal_relevance

from ..errors import InvalidInputError
from ..store import VectorStore
from ..types import Hit
from ._common import LazyCollection, from_store_metadata, new_ids, open_store, relevance, to_store_metadata

__all__ = ["VecstoreEmbeddings", "VecstoreVectorStore"]


class VecstoreEmbeddings(Embeddings):
    """vecstore's embedder (:func:`vecstore.embed.load_embedder`) as a LangChain ``Embeddings``."""

    def __init__(self, model: str | None = None, embedder: Any = None, **options: Any) -> None:
        if embedder is None:
            from ..embed import load_embedder

            embedder = load_embedder(model, **options)
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed_documents(list(texts)).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_queries([text])[0].tolist()


class VecstoreVectorStore(LangChainVectorStore):
    """A LangChain vector store on the collection ``collection`` of the vecstore at ``url``."""

    def __init__(
        self,
        url: str | VectorStore = "faiss://",
        collection: str = "langchain",
        embedding: Embeddings | None = None,
        *,
        metric: str = "cosine",
        index: str | None = None,
        index_options: dict[str, Any] | None = None,
        model: str | None = None,
        **connect_options: Any,
    ) -> None:
        self.store, self._owned = open_store(url, connect_options)
        self._embedding = embedding if embedding is not None else VecstoreEmbeddings(model)
        self._col = LazyCollection(self.store, collection, metric, index, index_options)

    # -- LangChain's interface -------------------------------------------------------

    @property
    def embeddings(self) -> Embeddings:
        return self._embedding

    @property
    def collection(self) -> Any:
        """The vecstore collection (``None`` until the first write creates it)."""
        return self._col.get()

    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and upsert; an id that is ``None`` (from ``add_documents``) gets a random UUID."""
        texts = list(texts)
        keys, metas = self._prepare(texts, metadatas, ids)
        if not texts:
            return []
        vectors = np.asarray(self._embedding.embed_documents(texts), dtype=np.float32)
        self._col.ensure(vectors.shape[1]).upsert(ids=keys, vectors=vectors, texts=texts, metadata=metas, **kwargs)
        return keys

    async def aadd_texts(self, texts: Iterable[str], metadatas: list[dict] | None = None, *,
                         ids: list[str] | None = None, **kwargs: Any) -> list[str]:
        texts = list(texts)
        keys, metas = self._prepare(texts, metadatas, ids)
        if not texts:
            return []
        vectors = np.asarray(await self._embedding.aembed_documents(texts), dtype=np.float32)
        col = await self._col.aio.ensure(vectors.shape[1])
        await col.upsert(ids=keys, vectors=vectors, texts=texts, metadata=metas, **kwargs)
        return keys

    @staticmethod
    def _prepare(texts: list[str], metadatas: list[dict] | None,
                 ids: Sequence[str | None] | None) -> tuple[list[str], list[dict[str, Any]]]:
        if metadatas is not None and len(metadatas) != len(texts):
            raise InvalidInputError(f"{len(texts)} texts but {len(metadatas)} metadatas")
        keys = new_ids(ids, len(texts))
        return keys, [to_store_metadata(m, record=i) for m, i in zip(metadatas or [{}] * len(texts), keys)]

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete by ``ids``, or every record matching ``filter=`` (vecstore's filter language)."""
        col = self._col.get()
        if ids is None and "filter" not in kwargs:
            raise InvalidInputError("delete() needs ids, or filter= (use drop() to remove everything)")
        if col is None:
            return True
        col.delete(ids, filter=kwargs.get("filter"))
        return True

    async def adelete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        if ids is None and "filter" not in kwargs:
            raise InvalidInputError("adelete() needs ids, or filter= (use drop() to remove everything)")
        col = await self._col.aio.get()
        if col is not None:
            await col.delete(ids, filter=kwargs.get("filter"))
        return True

    async def aget_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        col = await self._col.aio.get()
        if col is None:
            return []
        return [self._document(r.id, r.text, r.metadata) for r in await col.get(list(ids), include_vectors=False)]

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        col = self._col.get()
        if col is None:
            return []
        return [self._document(r.id, r.text, r.metadata) for r in col.get(list(ids), include_vectors=False)]

    def similarity_search(self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                          **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter=filter, **kwargs)]

    def similarity_search_with_score(self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                                     **kwargs: Any) -> list[tuple[Document, float]]:
        return self.similarity_search_by_vector_with_score(self._embedding.embed_query(query), k, filter=filter,
                                                           **kwargs)

    def similarity_search_by_vector(self, embedding: list[float], k: int = 4, filter: dict[str, Any] | None = None,
                                    **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_by_vector_with_score(embedding, k, filter=filter, **kwargs)]

    def similarity_search_by_vector_with_score(self, embedding: list[float], k: int = 4,
                                               filter: dict[str, Any] | None = None,
                                               **kwargs: Any) -> list[tuple[Document, float]]:
        return [(self._document(h.id, h.text, h.metadata), h.score)
                for h in self._hits(embedding, k, filter, False, kwargs)]

    async def asimilarity_search(self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                                 **kwargs: Any) -> list[Document]:
        return [doc for doc, _ in await self.asimilarity_search_with_score(query, k, filter=filter, **kwargs)]

    async def asimilarity_search_with_score(self, query: str, k: int = 4, filter: dict[str, Any] | None = None,
                                            **kwargs: Any) -> list[tuple[Document, float]]:
        vector = await self._embedding.aembed_query(query)
        return await self.asimilarity_search_by_vector_with_score(vector, k, filter=filter, **kwargs)

    async def asimilarity_search_by_vector(self, embedding: list[float], k: int = 4,
                                           filter: dict[str, Any] | None = None, **kwargs: Any) -> list[Document]:
        found = await self.asimilarity_search_by_vector_with_score(embedding, k, filter=filter, **kwargs)
        return [doc for doc, _ in found]

    async def asimilarity_search_by_vector_with_score(self, embedding: list[float], k: int = 4,
                                                      filter: dict[str, Any] | None = None,
                                                      **kwargs: Any) -> list[tuple[Document, float]]:
        return [(self._document(h.id, h.text, h.metadata), h.score)
                for h in await self._ahits(embedding, k, filter, False, kwargs)]

    async def amax_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20,
                                             lambda_mult: float = 0.5, filter: dict[str, Any] | None = None,
                                             **kwargs: Any) -> list[Document]:
        vector = await self._embedding.aembed_query(query)
        return await self.amax_marginal_relevance_search_by_vector(vector, k, fetch_k, lambda_mult, filter=filter,
                                                                   **kwargs)

    async def amax_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                       lambda_mult: float = 0.5,
                                                       filter: dict[str, Any] | None = None,
                                                       **kwargs: Any) -> list[Document]:
        hits = await self._ahits(embedding, max(fetch_k, k), filter, True, kwargs)
        return self._mmr(embedding, hits, k, lambda_mult)

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        metric = self._col.metric_in_use
        return lambda score: relevance(metric, score)

    def _similarity_search_with_relevance_scores(self, query: str, k: int = 4,
                                                 **kwargs: Any) -> list[tuple[Document, float]]:
        found = self.similarity_search_with_score(query, k, **kwargs)  # the metric is known once searched
        return [(doc, relevance(self._col.metric_in_use, score)) for doc, score in found]

    async def _asimilarity_search_with_relevance_scores(self, query: str, k: int = 4,
                                                        **kwargs: Any) -> list[tuple[Document, float]]:
        found = await self.asimilarity_search_with_score(query, k, **kwargs)
        return [(doc, relevance(self._col.metric_in_use, score)) for doc, score in found]

    def max_marginal_relevance_search(self, query: str, k: int = 4, fetch_k: int = 20, lambda_mult: float = 0.5,
                                      filter: dict[str, Any] | None = None, **kwargs: Any) -> list[Document]:
        return self.max_marginal_relevance_search_by_vector(self._embedding.embed_query(query), k, fetch_k,
                                                            lambda_mult, filter=filter, **kwargs)

    def max_marginal_relevance_search_by_vector(self, embedding: list[float], k: int = 4, fetch_k: int = 20,
                                                lambda_mult: float = 0.5, filter: dict[str, Any] | None = None,
                                                **kwargs: Any) -> list[Document]:
        return self._mmr(embedding, self._hits(embedding, max(fetch_k, k), filter, True, kwargs), k, lambda_mult)

    def _mmr(self, embedding: Sequence[float], hits: list[Hit], k: int, lambda_mult: float) -> list[Document]:
        if not hits:
            return []
        chosen = maximal_marginal_relevance(np.asarray(embedding, dtype=np.float32),
                                            [np.asarray(h.vector).tolist() for h in hits], lambda_mult=lambda_mult, k=k)
        return [self._document(hits[i].id, hits[i].text, hits[i].metadata) for i in chosen]

    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings,
        metadatas: list[dict] | None = None,
        *,
        ids: list[str] | None = None,
        url: str | VectorStore = "faiss://",
        collection: str = "langchain",
        **kwargs: Any,
    ) -> VecstoreVectorStore:
        store = cls(url, collection, embedding, **kwargs)
        store.add_texts(texts, metadatas, ids=ids)
        return store

    # -- vecstore's additions ------------------------------------------------------------

    def drop(self) -> bool:
        """Delete the collection and everything in it."""
        return self._col.drop()

    def close(self) -> None:
        """Close the connection if this object opened it (from a URL); in asyncio code, ``aclose()``."""
        self._col.close()
        if self._owned:
            self.store.close()

    async def aclose(self) -> None:
        """Close the async connection (a server's native async client) and, if owned, the store."""
        await self._col.aio.close()
        if self._owned:
            self.store.close()

    def __enter__(self) -> VecstoreVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _hits(self, embedding: Sequence[float], k: int, filter: dict[str, Any] | None, vectors: bool,
              kwargs: dict[str, Any]) -> list[Hit]:
        col = self._col.get()
        if col is None:
            return []
        return col.search(np.asarray(embedding, dtype=np.float32), k, filter=filter, include_vectors=vectors, **kwargs)

    async def _ahits(self, embedding: Sequence[float], k: int, filter: dict[str, Any] | None, vectors: bool,
                     kwargs: dict[str, Any]) -> list[Hit]:
        col = await self._col.aio.get()
        if col is None:
            return []
        return await col.search(np.asarray(embedding, dtype=np.float32), k, filter=filter, include_vectors=vectors,
                                **kwargs)

    @staticmethod
    def _document(id_: str, text: str | None, metadata: dict[str, Any]) -> Document:
        return Document(id=id_, page_content=text or "", metadata=from_store_metadata(metadata))
