"""What the qdrant-client adapter and the Qdrant Edge adapter share: ids,
payload layout, score conversion and the filter compiler.

* **Ids.** Qdrant takes only unsigned integers and UUIDs as point ids, so a
  record's id maps to ``uuid5(NAMESPACE, id)`` (deterministic) and the
  original id is kept in the payload; get and delete go through the same map.
* **Payload.** ``{"id": ..., "text": ..., "metadata": {...}}``; filters address
  ``metadata.<field>``, so user keys never collide with ours.  Metadata keys
  follow :data:`vecstore.types.KEY_RULE`, whose characters (ASCII letters,
  digits, ``_``, ``-``) are plain key characters in Qdrant's JSON path syntax
  (qdrant-client's local parser and Qdrant's engine alike), so the path needs
  no quoting; ``payload_indexes`` fields are held to the same rule.
* **Scores.** Qdrant's scores are already "higher is better" for Cosine
  (cosine similarity) and Dot (inner product); for Euclid it reports the
  distance (not squared), smaller first, so the score is its negative.
* **Filters** (MongoDB semantics, see :mod:`vecstore.filters`): ``$eq`` on a
  number is a closed ``Range`` (so ints and floats compare as numbers), on a
  string or bool a ``MatchValue``; ``$in`` is ``MatchAny`` for strings and a
  ``should`` of equalities otherwise; ``$ne``, ``$nin`` and negated ranges are
  ``must_not``, which matches records lacking the field, as the contract wants;
  ``$and``/``$or`` are ``must``/``should`` of nested filters.
* **Lexical search** (a collection made with a lexical index): a sparse vector
  :data:`SPARSE` per record with text, created with ``Modifier.IDF`` so that Qdrant computes
  the inverse document frequencies over the collection.  vecstore analyses the text
  (:mod:`vecstore.lexical`, default ``english``) and stores each term's BM25 term-frequency
  weight (k1 1.2, b 0.75, average length 256 terms, as FastEmbed's BM25) under its CRC-32 id;
  a query's distinct terms weigh 1, so the score is Σ IDF · tf-weight: BM25.
* **Exact floats** (Qdrant Edge, ``exact_floats``).  Qdrant's engine reads
  payload floats back through serde_json's default parser, which rounds: one
  float in ten (``random.random()`` values, measured with qdrant-edge-py 0.9)
  came back one ulp off, and an equality filter on the value written missed
  it.  Integers are kept exactly, so such a collection stores each float as
  the two halves of its order-preserving key (:mod:`vecstore.floatkey`) under
  ``f_hi.<field>`` and ``f_lo.<field>``, not under ``metadata``; a numeric
  comparison is an ``OR`` of the integer comparison on ``metadata.<field>``
  and the lexicographic one on the halves, both exact.
* **Integral floats** (Qdrant Edge collections marked ``integral_floats``): a float
  that is integral and within ±(2**53 - 1) also keeps an int copy under
  ``metadata.<field>`` (its halves still hold the float and win on reading), so
  ``metadata`` holds every number that an integral operand can equal, as an int:
  an equality on such an operand is the one ``Range`` on ``metadata.<field>``
  (as fast as a plain engine filter, where the ``OR`` with the halves cost a
  filtered search 2.5 times its time), and one on any other operand (fractional,
  or beyond that range, which no int holds) only the halves' match.
"""

from __future__ import annotations

import dataclasses
import uuid
from typing import Any

import numpy as np

from ...errors import ConfigError
from ...filters import And, Cmp, Node, Not, Or
from ...floatkey import float_key, join_key, key_float, split_key
from ...types import KEY_RULE, MAX_SAFE_INT, Hit, Record, is_metadata_key

#: Namespace of the UUIDv5 point ids (fixed forever: changing it orphans stored data).
NAMESPACE = uuid.UUID("6f0d3c52-3b8e-5a3e-9a57-7665637374f0")
SETTINGS_KEY = "vecstore"
_RANGE_ARG = {"$gt": "gt", "$gte": "gte", "$lt": "lt", "$lte": "lte"}


#: Kinds of ``payload_indexes`` (Qdrant's payload schema types).
PAYLOAD_INDEX_KINDS = ("keyword", "integer", "float", "bool")


def check_payload_indexes(options: dict[str, Any]) -> None:
    """Refuse a malformed ``payload_indexes`` option before anything is created."""
    indexes = options.get("payload_indexes") or {}
    if not isinstance(indexes, dict):
        raise ConfigError(f"payload_indexes must be a dict of field: kind, not {type(indexes).__name__}")
    for field, kind in indexes.items():
        if not is_metadata_key(field):
            raise ConfigError(f"payload_indexes: invalid field name {field!r}: metadata keys are {KEY_RULE}")
        if kind not in PAYLOAD_INDEX_KINDS:
            raise ConfigError(f"payload_indexes: unknown kind {kind!r} for {field!r}; use one of {', '.join(PAYLOAD_INDEX_KINDS)}")


def point_id(id_: str) -> str:
    return str(uuid.uuid5(NAMESPACE, id_))


#: Payload key of the string copies of boolean metadata (Qdrant Edge only, see below).
BOOL_KEY = "bools"


#: Payload keys of the halves of the float keys (``exact_floats``, see above).
FLOAT_HIGH, FLOAT_LOW = "f_hi", "f_lo"


def payload(
    id_: str,
    text: str | None,
    metadata: dict[str, Any],
    bool_copies: bool = False,
    exact_floats: bool = False,
    integral_floats: bool = False,
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": id_, "text": text, "metadata": metadata}
    kinds = {type(v) for v in metadata.values()}  # one pass: most metadata holds neither bools nor floats
    if bool_copies and bool in kinds:
        # qdrant-edge-py 0.9 turns MatchValue(True) into MatchValue(1), which never
        # matches a boolean: keep "true"/"false" copies to match on instead (an empty
        # copy is left out: a missing key matches the same conditions and costs Edge
        # ~7 us a point to convert)
        body[BOOL_KEY] = {k: "true" if v else "false" for k, v in metadata.items() if isinstance(v, bool)}
    if exact_floats and float in kinds:
        halves = {k: split_key(float_key(v)) for k, v in metadata.items() if isinstance(v, float)}
        body["metadata"] = {
            k: (int(v) if k in halves else v)
            for k, v in metadata.items()
            if k not in halves or (integral_floats and _integral(v))
        }
        body[FLOAT_HIGH] = {k: high for k, (high, _) in halves.items()}
        body[FLOAT_LOW] = {k: low for k, (_, low) in halves.items()}
    return body


def _integral(value: int | float) -> bool:
    """Whether some int metadata value can equal ``value`` (ints lie within ±(2**53 - 1))."""
    return isinstance(value, int) or (value.is_integer() and abs(value) <= MAX_SAFE_INT)


def stored_metadata(body: dict[str, Any]) -> dict[str, Any]:
    """A record's user metadata from its payload (floats decoded from their key halves)."""
    meta = dict(body.get("metadata") or {})
    high, low = body.get(FLOAT_HIGH) or {}, body.get(FLOAT_LOW) or {}
    for key, half in high.items():
        meta[key] = key_float(join_key(half, low[key]))
    return meta


#: Name of the sparse vector that holds a record's terms (lexical search).
SPARSE = "vs_lexical"


def sparse_parts(analyzer_name: str, text: str | None, query: bool = False) -> tuple[list[int], list[float]]:
    """(indices, values) of a document's or a query's sparse vector (see the module docstring)."""
    from ...lexical import analyzer, document_weights, query_weights

    an = analyzer(analyzer_name)
    weights = query_weights(an.query_terms(text or "")) if query else document_weights(an.terms(text))
    return list(weights), list(weights.values())


def score(metric: str, value: float) -> float:
    return -float(value) if metric == "l2" else float(value)


def _vector(point: Any) -> np.ndarray | None:
    vec = getattr(point, "vector", None)
    if isinstance(vec, dict):  # named vectors: the dense one is the unnamed ""
        vec = vec.get("")
    return None if vec is None else np.asarray(vec, dtype=np.float32)


def to_record(point: Any) -> Record:
    body = point.payload or {}
    return Record(body["id"], _vector(point), body.get("text"), stored_metadata(body))


def to_hit(metric: str, point: Any) -> Hit:
    body = point.payload or {}
    return Hit(body["id"], score(metric, point.score), body.get("text"), stored_metadata(body), _vector(point))


@dataclasses.dataclass(frozen=True)
class Models:
    """The filter classes of one Qdrant library (qdrant-client or qdrant-edge)."""

    Filter: Any
    FieldCondition: Any
    MatchValue: Any
    MatchAny: Any
    Range: Any
    #: match booleans on their string copies (see :func:`payload`)
    bool_copies: bool = False
    #: floats live as key halves, not under ``metadata`` (see :func:`payload`)
    exact_floats: bool = False
    #: integral floats also keep an int copy under ``metadata`` (see :func:`payload`)
    integral_floats: bool = False


def compile_filter(node: Node | None, m: Models) -> Any:
    """A Qdrant ``Filter`` for a parsed vecstore filter (``None`` for none)."""
    if node is None:
        return None
    cond = _condition(node, m)
    return cond if isinstance(cond, m.Filter) else m.Filter(must=[cond])


def _condition(node: Node, m: Models) -> Any:
    if isinstance(node, And):
        return m.Filter(must=[_condition(n, m) for n in node.items])
    if isinstance(node, Or):
        return m.Filter(should=[_condition(n, m) for n in node.items])
    if isinstance(node, Not):
        return m.Filter(must_not=[_condition(node.item, m)])
    key = f"metadata.{node.field}"
    if node.op == "$ne":
        return m.Filter(must_not=[_condition(Cmp(node.field, "$eq", node.value), m)])
    if node.op == "$nin":
        return m.Filter(must_not=[_condition(Cmp(node.field, "$in", node.value), m)])
    if node.op == "$eq":
        return _equals(key, node.value, m)
    if node.op == "$in":
        if all(isinstance(v, str) for v in node.value):
            return m.FieldCondition(key=key, match=m.MatchAny(any=list(node.value)))
        return m.Filter(should=[_equals(key, v, m) for v in node.value])
    cond = m.FieldCondition(key=key, range=m.Range(**{_RANGE_ARG[node.op]: node.value}))
    if not m.exact_floats:
        return cond
    high, low = split_key(float_key(float(node.value)))
    field = node.field
    beyond = m.Range(gt=high) if node.op in ("$gt", "$gte") else m.Range(lt=high)
    same_high = m.Filter(must=[
        m.FieldCondition(key=f"{FLOAT_HIGH}.{field}", match=m.MatchValue(high)),
        m.FieldCondition(key=f"{FLOAT_LOW}.{field}", range=m.Range(**{_RANGE_ARG[node.op]: low})),
    ])
    return m.Filter(should=[cond, m.FieldCondition(key=f"{FLOAT_HIGH}.{field}", range=beyond), same_high])


def _equals(key: str, value: Any, m: Models) -> Any:
    if isinstance(value, bool) and m.bool_copies:
        field = key.split(".", 1)[1]
        return m.FieldCondition(key=f"{BOOL_KEY}.{field}", match=m.MatchValue("true" if value else "false"))
    if isinstance(value, (str, bool)):
        return m.FieldCondition(key=key, match=m.MatchValue(value=value))
    cond = m.FieldCondition(key=key, range=m.Range(gte=value, lte=value))
    if not m.exact_floats:
        return cond
    integral = _integral(value)
    if m.integral_floats and integral:
        return cond  # every number equal to it is an int under metadata (see the module docs)
    field = key.split(".", 1)[1]
    high, low = split_key(float_key(float(value)))
    halves = m.Filter(must=[
        m.FieldCondition(key=f"{FLOAT_HIGH}.{field}", match=m.MatchValue(high)),
        m.FieldCondition(key=f"{FLOAT_LOW}.{field}", match=m.MatchValue(low)),
    ])
    if m.integral_floats or not integral:
        return halves  # no int equals a fractional operand, nor one beyond ±(2**53 - 1)
    return m.Filter(should=[cond, halves])
