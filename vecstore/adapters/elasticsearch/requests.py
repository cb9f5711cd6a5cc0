"""Request bodies for Elasticsearch, built by pure functions (unit-tested
without a server): the index mapping, kNN and exact ``script_score`` searches,
filters in the query DSL, document ids, and the conversion of ``_score`` back
to the contract's scores.

Scores.  Elasticsearch reports transformed, non-negative values; each is
inverted here (``s`` = ``_score``):

==========  ===============================  ===================================
metric      ES similarity → ``_score``        contract score
==========  ===============================  ===================================
cosine      ``cosine``: ``(1 + cos) / 2``      ``2s - 1``
dot         ``max_inner_product``:             ``s - 1`` if ``s >= 1``,
            ``d + 1`` if ``d >= 0``,           ``1 - 1/s`` otherwise
            ``1 / (1 - d)`` otherwise
l2          ``l2_norm``: ``1 / (1 + d²)``      ``-sqrt(1/s - 1)``
==========  ===============================  ===================================

``dot`` maps to ``max_inner_product`` because ES's ``dot_product`` requires
unit-length vectors.  The exact search's painless scripts produce the *same*
transforms, so one inverse serves both paths.

Filters (MongoDB semantics): ``$eq`` → ``term``, ``$in`` → ``terms``, ranges
→ ``range``; ``$ne``/``$nin``/negated ranges → ``bool.must_not`` (which
matches documents lacking the field); ``$and`` → ``bool.filter``; ``$or`` →
``bool.should`` with ``minimum_should_match: 1``.  Metadata strings are
mapped ``keyword``, every number ``double`` (ints and floats compare as
numbers, and a float never gets truncated into a ``long`` field), booleans
``boolean``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from ...filters import And, Cmp, Node, Not, Or

SIMILARITY = {"cosine": "cosine", "dot": "max_inner_product", "l2": "l2_norm"}
SETTINGS_KEY = "vecstore"
VECTOR_FIELD = "vector"
#: index_options types for index="hnsw" by quantization, and for index="flat"
HNSW_TYPES = {None: "hnsw", "int8": "int8_hnsw", "int4": "int4_hnsw", "bbq": "bbq_hnsw"}
FLAT_TYPES = {None: "flat", "int8": "int8_flat", "int4": "int4_flat", "bbq": "bbq_flat"}

# painless, producing the same _score transforms as the kNN similarities
_SCRIPTS = {
    "cosine": "(cosineSimilarity(params.q, 'vector') + 1.0) / 2.0",
    "dot": "double d = dotProduct(params.q, 'vector'); return d >= 0 ? d + 1.0 : 1.0 / (1.0 - d);",
    "l2": "double d = l2norm(params.q, 'vector'); return 1.0 / (1.0 + d * d);",
}


def doc_id(id_: str) -> str:
    """The ``_id`` of a record: its own id when ES accepts it (≤ 512 bytes), else a hash."""
    if len(id_.encode("utf-8")) <= 512:
        return id_
    return "vs-sha256-" + hashlib.sha256(id_.encode("utf-8")).hexdigest()


def mapping(settings: dict[str, Any]) -> dict[str, Any]:
    """The explicit mapping of a collection's index (``settings`` = ``CollectionSettings.to_json()``)."""
    opts = settings.get("index_options") or {}
    quant = opts.get("quantization")
    vector_options: dict[str, Any]
    if settings["index"] == "flat":
        vector_options = {"type": FLAT_TYPES[quant]}
    else:
        vector_options = {"type": HNSW_TYPES[quant]}
        for ours, theirs in (("m", "m"), ("ef_construction", "ef_construction")):
            if ours in opts:
                vector_options[theirs] = int(opts[ours])
    return {
        "_meta": {SETTINGS_KEY: settings},
        "dynamic": "strict",
        "properties": {
            "id": {"type": "keyword"},
            "text": {"type": "text"},
            VECTOR_FIELD: {
                "type": "dense_vector",
                "dims": settings["dim"],
                "index": True,
                "similarity": SIMILARITY[settings["metric"]],
                "index_options": vector_options,
            },
            "metadata": {"type": "object", "dynamic": True},
        },
        "dynamic_templates": [
            {"meta_strings": {"path_match": "metadata.*", "match_mapping_type": "string", "mapping": {"type": "keyword"}}},
            {"meta_longs": {"path_match": "metadata.*", "match_mapping_type": "long", "mapping": {"type": "double"}}},
            {"meta_doubles": {"path_match": "metadata.*", "match_mapping_type": "double", "mapping": {"type": "double"}}},
            {"meta_bools": {"path_match": "metadata.*", "match_mapping_type": "boolean", "mapping": {"type": "boolean"}}},
        ],
    }


def to_score(metric: str, s: float) -> float:
    """Invert Elasticsearch's ``_score`` to the contract's score (table above)."""
    if metric == "cosine":
        return 2.0 * s - 1.0
    if metric == "dot":
        return s - 1.0 if s >= 1.0 else 1.0 - 1.0 / s
    return -math.sqrt(max(1.0 / s - 1.0, 0.0))


def compile_filter(node: Node | None) -> dict[str, Any] | None:
    if node is None:
        return None
    if isinstance(node, And):
        return {"bool": {"filter": [compile_filter(n) for n in node.items]}}
    if isinstance(node, Or):
        return {"bool": {"should": [compile_filter(n) for n in node.items], "minimum_should_match": 1}}
    if isinstance(node, Not):
        return {"bool": {"must_not": [compile_filter(node.item)]}}
    return _cmp(node)


def _cmp(node: Cmp) -> dict[str, Any]:
    key = f"metadata.{node.field}"
    if node.op == "$eq":
        return {"term": {key: node.value}}
    if node.op == "$in":
        return {"terms": {key: list(node.value)}}
    if node.op == "$ne":
        return {"bool": {"must_not": [{"term": {key: node.value}}]}}
    if node.op == "$nin":
        return {"bool": {"must_not": [{"terms": {key: list(node.value)}}]}}
    return {"range": {key: {node.op[1:]: node.value}}}


def source(include_vectors: bool) -> dict[str, Any]:
    """``_source`` of a search: ES 9.2+ leaves vectors out unless asked."""
    fields = ["id", "text", "metadata"] + ([VECTOR_FIELD] if include_vectors else [])
    body: dict[str, Any] = {"includes": fields}
    if include_vectors:
        body["exclude_vectors"] = False
    return body


def knn_search(query: list[float], k: int, num_candidates: int, filter: dict[str, Any] | None,
               include_vectors: bool) -> dict[str, Any]:
    """Approximate kNN; the filter goes *inside* ``knn`` so that k hits come back whenever k match."""
    knn: dict[str, Any] = {
        "field": VECTOR_FIELD,
        "query_vector": query,
        "k": k,
        "num_candidates": max(num_candidates, k),
    }
    if filter is not None:
        knn["filter"] = filter
    return {"knn": knn, "size": k, "_source": source(include_vectors)}


def exact_search(metric: str, query: list[float], k: int, filter: dict[str, Any] | None,
                 include_vectors: bool) -> dict[str, Any]:
    """Brute force over every (filtered) document with ``script_score``."""
    inner = {"bool": {"filter": [filter]}} if filter is not None else {"match_all": {}}
    return {
        "query": {
            "script_score": {
                "query": inner,
                "script": {"source": _SCRIPTS[metric], "params": {"q": query}},
            }
        },
        "size": k,
        "_source": source(include_vectors),
    }


def query_of(filter: dict[str, Any] | None) -> dict[str, Any]:
    return {"bool": {"filter": [filter]}} if filter is not None else {"match_all": {}}


def bulk_upsert_actions(index: str, ids: list[str], vectors: list[list[float]], texts: list[str | None],
                        metadata: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"_op_type": "index", "_index": index, "_id": doc_id(i), "_source": {"id": i, "text": t, "metadata": m, VECTOR_FIELD: v}}
        for i, v, t, m in zip(ids, vectors, texts, metadata)
    ]


def bulk_delete_actions(index: str, ids: list[str]) -> list[dict[str, Any]]:
    return [{"_op_type": "delete", "_index": index, "_id": doc_id(i)} for i in ids]
