"""Haystack on any vecstore backend (extra ``haystack``): a ``DocumentStore`` and an embedding retriever.

>>> from vecstore.integrations.haystack import VecstoreDocumentStore, VecstoreEmbeddingRetriever
>>> store = VecstoreDocumentStore("chroma://localhost:8000", "docs", embedding_dim=384)
>>> store.write_documents(docs)                      # DuplicatePolicy.NONE means FAIL, as in memory
>>> VecstoreEmbeddingRetriever(store, top_k=5).run(query_embedding=vec, filters={...})

How Haystack's documents and filters map onto the contract:

* ``id`` is the record id, ``content`` its text, ``embedding`` its vector (stored as float32, so
  it comes back rounded to float32).  The collection is created on the first write with
  ``embedding_dim`` and ``similarity`` (``cosine`` — vectors then come back unit-length —,
  ``dot_product`` or ``l2``).  A document without an embedding is stored with a placeholder
  vector and a reserved flag; it is found by ``filter_documents`` but never by retrieval, and
  comes back with ``embedding=None``.
* ``meta``: see :mod:`vecstore.integrations._common` (anything the contract cannot store
  natively round-trips as JSON and cannot be filtered on).  ``blob`` and ``sparse_embedding``
  are kept as JSON too.  Two kinds of reserved keys are added and never shown: a presence flag
  per meta key (``_vsh_<key>``) and, for ISO 8601 date strings, their POSIX time (``_vst_<key>``).
* Filters (Haystack's syntax) are compiled to vecstore's filter language and run natively on
  every backend, with Haystack's semantics: ``== None`` matches documents without the field
  (presence flag), ``!= None`` those with it, ``>``/``>=``/``<``/``<=`` compare numbers, or ISO
  dates as instants (naive dates are taken as UTC; Haystack instead copies the other side's time
  zone), are false on ``None``, and raise :class:`haystack.errors.FilterError` for any other
  string or a list; ``in``/``not in`` need a list.  Raised as ``FilterError`` because vecstore
  cannot express them: fields other than ``meta.<key>`` (``content``, ``id``), nested keys and
  values stored as JSON, list values with ``==``/``!=``.  Bool and numbers differ as in vecstore
  (``True`` is not ``1``).
* ``to_dict`` stores the URL without its password or secret options (nor ``headers``): give
  those through the backend's environment variable (``PGPASSWORD``, ``QDRANT_API_KEY``,
  ``CHROMA_TOKEN``, ...).
* ``DuplicatePolicy.FAIL``/``SKIP`` read which ids exist, then write: not atomic against another
  writer of the same ids between the two (``OVERWRITE`` is a plain upsert).
"""

from __future__ import annotations

import base64
import json
import math
from datetime import datetime, timezone
from typing import Any

import numpy as np
from haystack import Document, component, default_from_dict, default_to_dict
from haystack.dataclasses import ByteStream, SparseEmbedding
from haystack.document_stores.errors import DuplicateDocumentError
from haystack.document_stores.types import DuplicatePolicy
from haystack.errors import FilterError

from ..errors import FilterError as VecstoreFilterError
from ..filters import parse
from ..store import VectorStore
from ..types import is_metadata_key
from ._common import (
    NOTHING,
    RESERVED_PREFIX,
    LazyCollection,
    from_store_metadata,
    open_store,
    relevance,
    to_store_metadata,
)

__all__ = ["VecstoreDocumentStore", "VecstoreEmbeddingRetriever", "compile_filters"]

SIMILARITIES = {"cosine": "cosine", "dot_product": "dot", "l2": "l2"}
#: connection options never written by to_dict (headers may carry an Authorization token)
_SECRET_OPTIONS = ("password", "api_key", "token", "headers")
NO_EMBEDDING = "_vs_noemb"
BLOB = "_vs_blob"
SPARSE = "_vs_sparse"
HAS = "_vsh_"
TIME = "_vst_"


# -- filters -----------------------------------------------------------------------------------


def compile_filters(filters: dict[str, Any] | None) -> dict[str, Any] | None:
    """Haystack's filter syntax → vecstore's filter language (``None``: no filter)."""
    if not filters:
        return None
    if not isinstance(filters, dict):
        raise FilterError(f"filters must be a dict, not {type(filters).__name__}")
    compiled = _node(filters)
    try:
        parse(compiled)  # vecstore's own checks (finite numbers, valid strings), as Haystack's error
    except VecstoreFilterError as exc:
        raise FilterError(str(exc)) from exc
    return compiled


def _node(cond: dict[str, Any]) -> dict[str, Any]:
    if "field" in cond:
        return _comparison(cond)
    if "operator" not in cond:
        raise FilterError(f"'operator' key missing in {cond}")
    if "conditions" not in cond:
        raise FilterError(f"'conditions' key missing in {cond}")
    op, items = cond["operator"], cond["conditions"]
    if op not in ("AND", "OR", "NOT"):
        raise FilterError(f"unknown logical operator {op!r}: use AND, OR or NOT")
    if not isinstance(items, list):
        raise FilterError(f"'conditions' must be a list, not {type(items).__name__}")
    compiled = [_node(c) for c in items]
    if op == "OR":
        return {"$or": compiled} if compiled else NOTHING
    both: dict[str, Any] = {"$and": compiled} if compiled else {}
    if op == "AND":
        return both
    return {"$not": both} if compiled else NOTHING


def _comparison(cond: dict[str, Any]) -> dict[str, Any]:
    for key in ("field", "operator", "value"):
        if key not in cond:
            raise FilterError(f"'{key}' key missing in {cond}")
    field, op, value = cond["field"], cond["operator"], cond["value"]
    key = _meta_key(field)
    if op == "==":
        return _equal(key, value)
    if op == "!=":
        return {"$not": _equal(key, value)}
    if op in (">", ">=", "<", "<="):
        return _ordering(key, op, value)
    if op in ("in", "not in"):
        if not isinstance(value, list):
            raise FilterError(f"'{op}' needs a list, got {type(value).__name__}")
        alternatives = [_equal(key, v, dates=False) for v in value]
        anyof = {"$or": alternatives} if alternatives else NOTHING
        return anyof if op == "in" else {"$not": anyof}
    raise FilterError(f"unknown comparison operator {op!r}")


def _meta_key(field: Any) -> str:
    if not isinstance(field, str) or not field.startswith("meta."):
        raise FilterError(f"vecstore filters on meta fields ('meta.<key>') only, not {field!r}")
    key = field[len("meta."):]
    if not is_metadata_key(key) or key.startswith(RESERVED_PREFIX) or len(HAS) + len(key) > 64:
        raise FilterError(f"cannot filter on {field!r}: keys are 1-59 characters of letters, digits, '_' and '-'")
    return key


def _equal(key: str, value: Any, dates: bool = True) -> dict[str, Any]:
    if value is None:
        return {HAS + key: {"$ne": True}}
    if isinstance(value, (list, dict, tuple)):
        raise FilterError(f"cannot compare meta.{key} with a {type(value).__name__}: such values are stored as JSON")
    if not isinstance(value, (str, int, float, bool)):
        raise FilterError(f"cannot compare meta.{key} with a {type(value).__name__}")
    same: dict[str, Any] = {key: {"$eq": value}}
    when = _instant(value) if dates and isinstance(value, str) else None
    return {"$or": [same, {TIME + key: when}]} if when is not None else same


def _ordering(key: str, op: str, value: Any) -> dict[str, Any]:
    vs_op = {">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte"}[op]
    if value is None:
        return NOTHING
    if isinstance(value, (list, tuple, dict)):
        raise FilterError(f"filter value can't be a {type(value).__name__} with '{op}'")
    if isinstance(value, str):
        when = _instant(value)
        if when is None:
            raise FilterError(f"can't compare strings with '{op}' unless they are ISO 8601 dates: {value!r}")
        return {TIME + key: {vs_op: when}}
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FilterError(f"can't compare meta.{key} with {value!r} using '{op}'")
    return {key: {vs_op: value}}


def _instant(value: str) -> float | None:
    """POSIX seconds of an ISO 8601 date string (naive = UTC), or ``None`` if it is not one."""
    if len(value) < 10 or not (value[:4].isdigit() and value[4] == "-" and value[7] == "-"):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    seconds = when.timestamp()
    return seconds if math.isfinite(seconds) else None


# -- documents ------------------------------------------------------------------------------------


def _to_record(doc: Document, dim: int) -> tuple[str, np.ndarray, str | None, dict[str, Any]]:
    meta = to_store_metadata(doc.meta, record=doc.id)
    for key, value in doc.meta.items():
        if value is None or not isinstance(key, str) or not is_metadata_key(HAS + key):
            continue
        meta[HAS + key] = True
        when = _instant(value) if isinstance(value, str) and is_metadata_key(TIME + key) else None
        if when is not None:
            meta[TIME + key] = when
    if doc.blob is not None:
        meta[BLOB] = json.dumps({"data": base64.b64encode(doc.blob.data).decode(), "meta": doc.blob.meta,
                                 "mime_type": doc.blob.mime_type})
    if doc.sparse_embedding is not None:
        meta[SPARSE] = json.dumps(doc.sparse_embedding.to_dict())
    if doc.embedding is None:
        meta[NO_EMBEDDING] = True
        vector = np.zeros(dim, dtype=np.float32)
        vector[0] = 1.0  # a placeholder of any metric; retrieval never returns these records
    else:
        vector = np.asarray(doc.embedding, dtype=np.float32)
    return doc.id, vector, doc.content, meta


def _to_document(id_: str, text: str | None, metadata: dict[str, Any], vector: Any,
                 score: float | None = None) -> Document:
    blob = sparse = None
    if BLOB in metadata:
        raw = json.loads(metadata[BLOB])
        blob = ByteStream(data=base64.b64decode(raw["data"]), meta=raw["meta"], mime_type=raw["mime_type"])
    if SPARSE in metadata:
        sparse = SparseEmbedding.from_dict(json.loads(metadata[SPARSE]))
    embedding = None
    if vector is not None and not metadata.get(NO_EMBEDDING):
        embedding = np.asarray(vector, dtype=np.float32).tolist()
    return Document(id=id_, content=text, blob=blob, meta=from_store_metadata(metadata), score=score,
                    embedding=embedding, sparse_embedding=sparse)


class VecstoreDocumentStore:
    """A Haystack document store on the collection ``collection`` of the vecstore at ``url``."""

    def __init__(
        self,
        url: str | VectorStore = "faiss://",
        collection: str = "haystack",
        *,
        embedding_dim: int = 768,
        similarity: str = "cosine",
        index: str | None = None,
        index_options: dict[str, Any] | None = None,
        **connect_options: Any,
    ) -> None:
        if similarity not in SIMILARITIES:
            raise ValueError(f"unknown similarity {similarity!r}: use one of {', '.join(SIMILARITIES)}")
        self.store, self._owned = open_store(url, connect_options)
        self.embedding_dim = embedding_dim
        self.similarity = similarity
        self._col = LazyCollection(self.store, collection, SIMILARITIES[similarity], index, index_options)
        self._init = {"url": self.store.spec.without_secrets, "collection": collection,
                      "embedding_dim": embedding_dim, "similarity": similarity, "index": index,
                      "index_options": index_options, **{k: v for k, v in connect_options.items()
                                                         if k not in _SECRET_OPTIONS}}

    # -- Haystack's DocumentStore protocol -----------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, **self._init)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VecstoreDocumentStore:
        return default_from_dict(cls, data)

    def count_documents(self) -> int:
        col = self._col.get()
        return 0 if col is None else col.count()

    def filter_documents(self, filters: dict[str, Any] | None = None) -> list[Document]:
        where = compile_filters(filters)
        col = self._col.get()
        if col is None:
            return []
        batches = list(col.iterate(1000, filter=where, include_vectors=True))
        return [_to_document(r.id, r.text, r.metadata, r.vector) for batch in batches for r in batch]

    def write_documents(self, documents: list[Document], policy: DuplicatePolicy = DuplicatePolicy.NONE) -> int:
        """Write ``documents``; ``NONE`` means ``FAIL`` (as Haystack's in-memory store).  ``FAIL``
        writes nothing when any id exists; ``SKIP`` writes the new ones; ``OVERWRITE`` upserts."""
        if not isinstance(documents, list) or not all(isinstance(d, Document) for d in documents):
            raise ValueError("write_documents() takes a list of haystack Documents")
        if not documents:
            return 0
        col = self._col.ensure(self.embedding_dim)
        if policy in (DuplicatePolicy.NONE, DuplicatePolicy.FAIL, DuplicatePolicy.SKIP):
            ids = [d.id for d in documents]
            existing = {r.id for r in col.get(ids, include_vectors=False)}
            if policy != DuplicatePolicy.SKIP:
                seen: set[str] = set()
                twice = [i for i in ids if i in seen or seen.add(i)]  # type: ignore[func-returns-value]
                if existing or twice:
                    raise DuplicateDocumentError(f"ID {sorted(existing | set(twice))[0]!r} already exists")
            first: dict[str, Document] = {}
            for d in documents:
                if d.id not in existing:
                    first.setdefault(d.id, d)
            documents = list(first.values())
        records = [_to_record(d, self.embedding_dim) for d in documents]
        if records:
            ids, vectors, texts, metas = zip(*records)
            col.upsert(ids=list(ids), vectors=np.stack(vectors), texts=list(texts), metadata=list(metas))
        return len(records)

    def delete_documents(self, document_ids: list[str]) -> None:
        col = self._col.get()
        if col is not None and document_ids:
            col.delete(list(document_ids))

    # -- retrieval and lifecycle --------------------------------------------------------------------

    def embedding_retrieval(self, query_embedding: list[float], filters: dict[str, Any] | None = None,
                            top_k: int = 10, scale_score: bool = False,
                            return_embedding: bool = False) -> list[Document]:
        """The ``top_k`` documents nearest ``query_embedding`` (documents without an embedding
        are never returned); ``score`` is the contract's, or its relevance in [0, 1] with ``scale_score``."""
        where = compile_filters(filters)
        col = self._col.get()
        if col is None:
            return []
        only = {NO_EMBEDDING: {"$ne": True}}
        hits = col.search(np.asarray(query_embedding, dtype=np.float32), top_k,
                          filter={"$and": [where, only]} if where else only, include_vectors=return_embedding)
        return [_to_document(h.id, h.text, h.metadata, h.vector,
                             relevance(col.metric, h.score) if scale_score else h.score) for h in hits]

    def drop(self) -> bool:
        """Delete the collection and every document in it."""
        return self._col.drop()

    def close(self) -> None:
        if self._owned:
            self.store.close()


@component
class VecstoreEmbeddingRetriever:
    """Retrieves documents from a :class:`VecstoreDocumentStore` by embedding similarity."""

    def __init__(self, document_store: VecstoreDocumentStore, filters: dict[str, Any] | None = None,
                 top_k: int = 10, scale_score: bool = False, return_embedding: bool = False) -> None:
        if not isinstance(document_store, VecstoreDocumentStore):
            raise ValueError("document_store must be a VecstoreDocumentStore")
        self.document_store = document_store
        self.filters = filters
        self.top_k = top_k
        self.scale_score = scale_score
        self.return_embedding = return_embedding

    @component.output_types(documents=list[Document])
    def run(self, query_embedding: list[float], filters: dict[str, Any] | None = None,
            top_k: int | None = None) -> dict[str, list[Document]]:
        """``filters`` given here replace the ones given at construction."""
        docs = self.document_store.embedding_retrieval(
            query_embedding, filters if filters is not None else self.filters, top_k or self.top_k,
            self.scale_score, self.return_embedding)
        return {"documents": docs}

    def to_dict(self) -> dict[str, Any]:
        return default_to_dict(self, document_store=self.document_store.to_dict(), filters=self.filters,
                               top_k=self.top_k, scale_score=self.scale_score, return_embedding=self.return_embedding)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VecstoreEmbeddingRetriever:
        data["init_parameters"]["document_store"] = VecstoreDocumentStore.from_dict(
            data["init_parameters"]["document_store"])
        return default_from_dict(cls, data)
