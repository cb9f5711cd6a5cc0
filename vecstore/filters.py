"""The filter language: MongoDB-style dicts, parsed once, compiled per backend.

Syntax::

    {"lang": "es"}                                  # equality
    {"year": {"$gte": 2020, "$lt": 2024}}           # several operators on one field: AND
    {"lang": "es", "year": 2021}                    # several fields: AND
    {"$or": [{"lang": "es"}, {"lang": "fr"}]}
    {"$not": {"lang": {"$in": ["es", "fr"]}}}

Operators ``$eq $ne $gt $gte $lt $lte $in $nin``; combinators ``$and $or``
(non-empty lists) and ``$not`` (one filter).  Values are ``str``, ``int``,
``float`` or ``bool``; ``$gt``/``$gte``/``$lt``/``$lte`` take numbers only;
``$in``/``$nin`` take a non-empty list.  Field names follow the metadata key
rule (:data:`vecstore.types.KEY_RULE`), integers lie within ±(2**53 - 1) and
strings are valid Unicode without NUL, as in stored metadata.

Semantics, the same on every backend (MongoDB's):

* Values compare by type: ``True`` never equals ``1``; ints and floats
  compare as numbers; strings only equal strings.
* ``$eq``, ``$in`` and the ranges are false on a record that lacks the field
  (or holds another type); ``$ne``, ``$nin`` and ``$not`` are their exact
  complements, so they *match* such records: ``{"tag": {"$ne": "x"}}``
  includes records without a ``tag``.

:func:`parse` validates before any backend call and raises
:class:`~vecstore.errors.FilterError`.  It returns the tree in negation
normal form: ``$not`` is pushed down by De Morgan until it meets a
comparison, where ``$eq``/``$ne`` and ``$in``/``$nin`` swap; only a negated
range stays wrapped, as :class:`Not` around a range :class:`Cmp`.  A backend
therefore compiles :class:`And`, :class:`Or`, :class:`Cmp` and ``Not(range)``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from typing import Any, Union

from .errors import FilterError
from .types import KEY_RULE, MAX_SAFE_INT, is_metadata_key, string_problem

COMPARISONS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin")
RANGE_OPS = ("$gt", "$gte", "$lt", "$lte")
_COMPLEMENT = {"$eq": "$ne", "$ne": "$eq", "$in": "$nin", "$nin": "$in"}


@dataclasses.dataclass(frozen=True)
class Cmp:
    """``field op value``; ``value`` is a tuple for ``$in``/``$nin``."""

    field: str
    op: str
    value: Any


@dataclasses.dataclass(frozen=True)
class Not:
    """Negation of a range comparison (true where the field is missing or not a number)."""

    item: Cmp


@dataclasses.dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclasses.dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Union[Cmp, Not, And, Or]


def parse(filter: Mapping[str, Any] | Node | None) -> Node | None:
    """Validate a filter and return it in negation normal form (``None`` = no filter)."""
    if filter is None or isinstance(filter, (Cmp, Not, And, Or)):
        return filter
    if not isinstance(filter, Mapping):
        raise FilterError(f"a filter must be a dict, not {type(filter).__name__}")
    if not filter:
        return None
    return _parse(filter, negate=False)


def _parse(obj: Any, negate: bool) -> Node:
    if not isinstance(obj, Mapping) or not obj:
        raise FilterError(f"expected a non-empty filter dict, got {obj!r}")
    parts: list[Node] = []
    for key, value in obj.items():
        if not isinstance(key, str):
            raise FilterError(f"filter keys must be strings, got {key!r}")
        if key in ("$and", "$or"):
            if not isinstance(value, (list, tuple)) or not value:
                raise FilterError(f"{key} takes a non-empty list of filters, got {value!r}")
            children = tuple(_parse(v, negate) for v in value)
            # De Morgan: not(a and b) = (not a) or (not b)
            is_and = (key == "$and") != negate
            parts.append(_join(And if is_and else Or, children))
        elif key == "$not":
            parts.append(_parse(value, not negate))
        elif key.startswith("$"):
            raise FilterError(f"unknown filter operator {key!r} (combinators: $and, $or, $not)")
        else:
            parts.append(_parse_field(key, value, negate))
    # several keys in one dict are ANDed; negated: OR of the negations
    return _join(Or if negate else And, tuple(parts))


def _join(kind: type[And] | type[Or], items: tuple[Node, ...]) -> Node:
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        flat.extend(item.items if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


def _parse_field(field: str, spec: Any, negate: bool) -> Node:
    if not is_metadata_key(field):
        raise FilterError(f"invalid field name {field!r}: metadata keys are {KEY_RULE}")
    if isinstance(spec, Mapping) and any(isinstance(k, str) and k.startswith("$") for k in spec):
        if not all(isinstance(k, str) and k.startswith("$") for k in spec):
            raise FilterError(f"field {field!r}: do not mix operators and plain keys in {spec!r}")
        cmps = tuple(_cmp(field, op, val, negate) for op, val in spec.items())
        return _join(Or if negate else And, cmps)
    return _cmp(field, "$eq", spec, negate)


def _cmp(field: str, op: str, value: Any, negate: bool) -> Cmp | Not:
    if op == "$not":
        raise FilterError(f"field {field!r}: put $not around the condition: {{'$not': {{{field!r}: ...}}}}")
    if op not in COMPARISONS:
        raise FilterError(f"unknown filter operator {op!r} on field {field!r} (use one of {', '.join(COMPARISONS)})")
    if op in ("$in", "$nin"):
        if not isinstance(value, (list, tuple)) or not value:
            raise FilterError(f"{op} on field {field!r} takes a non-empty list, got {value!r}")
        for v in value:
            _check_scalar(field, op, v)
        value = tuple(value)
    elif op in RANGE_OPS:
        if not _is_number(value):
            raise FilterError(f"{op} on field {field!r} takes a number, got {value!r}")
        _check_scalar(field, op, value)
    else:
        _check_scalar(field, op, value)
    if not negate:
        return Cmp(field, op, value)
    return Cmp(field, _COMPLEMENT[op], value) if op in _COMPLEMENT else Not(Cmp(field, op, value))


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_scalar(field: str, op: str, v: Any) -> None:
    if not isinstance(v, (str, int, float, bool)):
        raise FilterError(
            f"{op} on field {field!r}: values must be str, int, float or bool, got {type(v).__name__}"
        )
    if isinstance(v, float) and not math.isfinite(v):
        raise FilterError(f"{op} on field {field!r}: {v!r} is not a finite number")
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_SAFE_INT:
        raise FilterError(f"{op} on field {field!r}: {v} is beyond ±(2**53 - 1), which metadata cannot hold")
    if isinstance(v, str):
        problem = string_problem(v)
        if problem:
            raise FilterError(f"{op} on field {field!r}: the value {v[:60]!r} {problem}")


def type_tag(value: Any) -> str:
    """``"b"``, ``"s"`` or ``"n"``: the kind of a metadata value, as the filter semantics compare them.
    Backends that cannot compare by type store these tags beside the values."""
    if isinstance(value, bool):
        return "b"
    return "s" if isinstance(value, str) else "n"


def cache_key(node: Node | None) -> str:
    """A key for caching a filter's result.  Nodes compare with ``==``, which holds
    ``True == 1 == 1.0``: a cache keyed by the node itself would answer ``{"x": 1}``
    with the records holding ``True``.  ``repr`` keeps every value's type."""
    return repr(node)


class CompiledFilters:
    """A filter compiled for a backend, once per value and type: ``cache(node)`` calls
    ``compile(node)`` on the first sight of a :func:`cache_key` and returns the same object
    after (callers hand it to a client that only reads it).  ``None`` stays ``None``.  Keeps
    the last ``size`` keys (cleared when full: filters repeat, or are not worth keeping)."""

    def __init__(self, compile: Callable[[Node], Any], size: int = 256) -> None:
        self._compile, self._size = compile, size
        self._compiled: dict[str, Any] = {}

    def __call__(self, node: Node | None) -> Any:
        if node is None:
            return None
        key = cache_key(node)
        try:
            return self._compiled[key]
        except KeyError:
            compiled = self._compile(node)
            if len(self._compiled) >= self._size:
                self._compiled.clear()
            self._compiled[key] = compiled
            return compiled


def fields(node: Node | None) -> set[str]:
    """The metadata fields a filter reads."""
    if node is None:
        return set()
    if isinstance(node, Cmp):
        return {node.field}
    if isinstance(node, Not):
        return {node.item.field}
    return set().union(*(fields(n) for n in node.items))


# --- evaluation in Python: the reference semantics, used by the Faiss adapter ---


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    if _is_number(a):
        return _is_number(b)
    return type(a) is type(b)


def _eq(a: Any, b: Any) -> bool:
    return _same_kind(a, b) and a == b


def matches(node: Node | None, metadata: Mapping[str, Any]) -> bool:
    """Whether a record's metadata satisfies a parsed filter."""
    if node is None:
        return True
    if isinstance(node, And):
        return all(matches(n, metadata) for n in node.items)
    if isinstance(node, Or):
        return any(matches(n, metadata) for n in node.items)
    if isinstance(node, Not):
        return not matches(node.item, metadata)
    if node.op in ("$ne", "$nin"):
        return not matches(Cmp(node.field, _COMPLEMENT[node.op], node.value), metadata)
    if node.field not in metadata:
        return False
    have, op, want = metadata[node.field], node.op, node.value
    if op == "$eq":
        return _eq(have, want)
    if op == "$in":
        return any(_eq(have, w) for w in want)
    if not _is_number(have):
        return False
    if op == "$gt":
        return bool(have > want)
    if op == "$gte":
        return bool(have >= want)
    if op == "$lt":
        return bool(have < want)
    return bool(have <= want)  # $lte


def _kind_key(value: Any) -> tuple[Any, Any]:
    """Equal for two values exactly when :func:`_eq` holds (``1`` and ``1.0``, never ``True``)."""
    if isinstance(value, bool):
        return ("b", value)
    return ("n", value) if _is_number(value) else (type(value), value)


def matcher(node: Node | None) -> Callable[[Mapping[str, Any]], bool]:
    """:func:`matches` for one filter, compiled once to test many records: the same
    answers, with ``$in``/``$nin`` a set lookup instead of a scan of the list (an
    ingest batch deletes its stale chunks with ``doc_id $in`` hundreds of ids)."""
    if node is None:
        return lambda metadata: True
    if isinstance(node, (And, Or)):
        parts = [matcher(n) for n in node.items]
        if isinstance(node, And):
            return lambda metadata: all(p(metadata) for p in parts)
        return lambda metadata: any(p(metadata) for p in parts)
    if isinstance(node, Cmp) and node.op in ("$in", "$nin"):
        field, keys, negate = node.field, frozenset(_kind_key(v) for v in node.value), node.op == "$nin"

        def member(metadata: Mapping[str, Any]) -> bool:
            if field not in metadata:
                return negate
            try:
                return (_kind_key(metadata[field]) in keys) is not negate
            except TypeError:  # an unhashable value (a list) equals no filter value
                return negate

        return member
    return lambda metadata: matches(node, metadata)
