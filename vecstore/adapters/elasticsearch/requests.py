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

Metadata, typed by construction.  A dynamic mapping lets the first record that
holds a key fix its type: a later record with another type for that key fails,
a string filter value is coerced against a number field (``"2020"`` matches
2020) and ``True`` against a number is an error.  So every value is indexed in
a field named by its JSON type — ``vs_s.<key>`` (``keyword``), ``vs_n.<key>``
(``double``: ints and floats compare as numbers, exactly up to 2**53) and
``vs_b.<key>`` (``boolean``) — and ``metadata`` itself is stored but not
indexed (``enabled: false``), so any key may hold any type in any record and
reads return the values as written.

Filters (MongoDB semantics) compile per type of the operand: ``$eq`` →
``term`` on the field of its type; ``$in`` → ``terms`` per type present
(``bool.should`` when several); ranges → ``range`` on ``vs_n`` (strings and
booleans never match); ``$ne``/``$nin``/negated ranges → ``bool.must_not``
of the positive (so records lacking the key, or holding another type, match);
``$and`` → ``bool.filter``; ``$or`` → ``bool.should`` with
``minimum_should_match: 1``.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

from ...filters import And, Cmp, Node, Not, Or, type_tag

SIMILARITY = {"cosine": "cosine", "dot": "max_inner_product", "l2": "l2_norm"}
#: the indexed field of each type of metadata value (tags of :func:`vecstore.filters.type_tag`)
TYPED = {"s": "vs_s", "n": "vs_n", "b": "vs_b"}
TYPED_MAPPING = {"s": "keyword", "n": "double", "b": "boolean"}
#: Lucene's limit on one indexed term, in bytes: longer string values are refused
MAX_KEYWORD_BYTES = 32_766
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
            "text": {"type": "text", **({"analyzer": settings["lexical"]} if settings.get("lexical") else {})},
            VECTOR_FIELD: {
                "type": "dense_vector",
                "dims": settings["dim"],
                "index": True,
                "similarity": SIMILARITY[settings["metric"]],
                "index_options": vector_options,
            },
            "metadata": {"type": "object", "enabled": False},  # stored as written, not indexed
            **{field: {"type": "object", "dynamic": True} for field in TYPED.values()},
        },
        "dynamic_templates": [
            {f"{TYPED[tag]}_values": {"path_match": f"{TYPED[tag]}.*", "mapping": {"type": kind}}}
            for tag, kind in TYPED_MAPPING.items()
        ],
    }


def typed_fields(metadata: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The indexed copies of a record's metadata, one object per type (empty ones left out)."""
    out: dict[str, dict[str, Any]] = {}
    for key, value in metadata.items():
        out.setdefault(TYPED[type_tag(value)], {})[key] = value
    return out


def has_typed_layout(properties: dict[str, Any]) -> bool:
    """Whether an index's mapping has the typed fields (indexes made before them do not)."""
    return all(field in properties for field in TYPED.values())


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


def _path(field: str, value: Any) -> str:
    return f"{TYPED[type_tag(value)]}.{field}"


def _positive(node: Cmp) -> dict[str, Any]:
    if node.op == "$eq":
        return {"term": {_path(node.field, node.value): node.value}}
    if node.op == "$in":
        groups: dict[str, list[Any]] = {}
        for value in node.value:
            groups.setdefault(_path(node.field, value), []).append(value)
        parts = [{"terms": {path: values}} for path, values in groups.items()]
        return parts[0] if len(parts) == 1 else {"bool": {"should": parts, "minimum_should_match": 1}}
    return {"range": {f"{TYPED['n']}.{node.field}": {node.op[1:]: node.value}}}


def _cmp(node: Cmp) -> dict[str, Any]:
    if node.op in ("$ne", "$nin"):
        return {"bool": {"must_not": [_positive(Cmp(node.field, "$eq" if node.op == "$ne" else "$in", node.value))]}}
    return _positive(node)


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


def lexical_search(text: str, k: int, filter: dict[str, Any] | None, include_vectors: bool) -> dict[str, Any]:
    """BM25 on the ``text`` field: a ``match`` query (its terms OR-ed), the filter as a bool filter."""
    query: dict[str, Any] = {"bool": {"must": [{"match": {"text": {"query": text}}}]}}
    if filter is not None:
        query["bool"]["filter"] = [filter]
    return {"query": query, "size": k, "_source": source(include_vectors)}


def query_of(filter: dict[str, Any] | None) -> dict[str, Any]:
    return {"bool": {"filter": [filter]}} if filter is not None else {"match_all": {}}


def bulk_upsert_actions(index: str, ids: list[str], vectors: list[list[float]], texts: list[str | None],
                        metadata: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"_op_type": "index", "_index": index, "_id": doc_id(i),
         "_source": {"id": i, "text": t, "metadata": m, **typed_fields(m), VECTOR_FIELD: v}}
        for i, v, t, m in zip(ids, vectors, texts, metadata)
    ]


def bulk_delete_actions(index: str, ids: list[str]) -> list[dict[str, Any]]:
    return [{"_op_type": "delete", "_index": index, "_id": doc_id(i)} for i in ids]
