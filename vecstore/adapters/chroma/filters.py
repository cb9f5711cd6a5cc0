"""Compile a parsed filter into Chroma's ``where`` dict.

Chroma has the comparisons and ``$and``/``$or`` but no ``$not``.  The parser
already pushed negation down (``$not $eq`` → ``$ne``, ``$not $in`` → ``$nin``,
De Morgan over ``$and``/``$or``), and Chroma's ``$ne``/``$nin`` match records
lacking the field, as the contract wants.  What remains is a negated range,
which must also match records whose field is missing or not a number: for that
every record carries a type tag per metadata field (``<field>.vs_type`` =
``"n"`` for numbers, ``"s"``, ``"b"``), so ``not (year >= 2010)`` becomes
``year < 2010 OR year.vs_type != "n"``.  Tags are stripped on the way out;
user keys cannot contain ``.``, so they never collide.
"""

from __future__ import annotations

from typing import Any

from ...errors import FilterError
from ...filters import And, Cmp, Node, Not, Or, type_tag

TYPE_SUFFIX = ".vs_type"
_RANGE_COMPLEMENT = {"$gt": "$lte", "$gte": "$lt", "$lt": "$gte", "$lte": "$gt"}


def with_type_tags(meta: dict[str, Any]) -> dict[str, Any] | None:
    """Metadata as stored in Chroma (``None`` for none: Chroma rejects ``{}``)."""
    if not meta:
        return None
    return {**meta, **{key + TYPE_SUFFIX: type_tag(value) for key, value in meta.items()}}


def without_type_tags(meta: dict[str, Any] | None) -> dict[str, Any]:
    return {k: v for k, v in (meta or {}).items() if not k.endswith(TYPE_SUFFIX)}


def compile_where(node: Node | None) -> dict[str, Any] | None:
    if node is None:
        return None
    if isinstance(node, And):
        return {"$and": [compile_where(n) for n in node.items]}
    if isinstance(node, Or):
        return {"$or": [compile_where(n) for n in node.items]}
    if isinstance(node, Not):
        cmp = node.item
        if cmp.op not in _RANGE_COMPLEMENT:
            raise FilterError(f"cannot express $not over {cmp.op} in Chroma")
        return {
            "$or": [
                {cmp.field: {_RANGE_COMPLEMENT[cmp.op]: cmp.value}},
                {cmp.field + TYPE_SUFFIX: {"$ne": "n"}},
            ]
        }
    return _cmp(node)


def _cmp(node: Cmp) -> dict[str, Any]:
    value = list(node.value) if node.op in ("$in", "$nin") else node.value
    return {node.field: {node.op: value}}
