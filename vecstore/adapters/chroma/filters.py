"""Compile a parsed filter into Chroma's ``where`` dict.

Type tags.  Every record carries, per metadata field, ``<field>.vs_type``:
``"i"`` (int), ``"d"`` (float), ``"s"`` or ``"b"``.  User keys cannot contain
``.``, so tags never collide; they are stripped on the way out.

Floats.  Chroma (1.5) does not keep a float64 exactly: 158 of 913 random
floats read back one ulp off, and its ``$eq`` matches floats one ulp apart
(a stored ``2**53 - 2.0`` equals the operand ``2**53 - 1``).  Its int64 column
is exact.  So each float also stores ``<field>.vs_f64``: the float's bits as
an order-preserving int64 (:func:`float_key`; ``-0.0`` and ``0.0`` share a
key).  Float comparisons run on that key, and reads decode it, so floats come
back bit for bit and compare exactly.  The plain float stays in ``<field>``
for anyone reading the collection with Chroma's own client.

Numbers.  Chroma (1.x, embedded and server alike) compares a number with both
of its numeric columns, and converts the operand lossily: a float operand is
*truncated* for the int column (``{"c": 0.5}`` matches an int ``0``,
``$gte 1.5`` an int ``1``, ``$lt 2.5`` misses an int ``2``), and an int operand
is compared exactly with stored floats that Chroma's own float parsing may have
moved by one ulp (a float ``2**53 - 1`` is stored as ``2**53 - 2``).  So each
numeric comparison is compiled per stored type, each branch guarded by its tag
and given an operand of that type, so Chroma's cross-type path never runs:

* ints against an exactly converted int operand: ``$gt v`` → ``$gt floor(v)``,
  ``$gte v`` → ``$gte ceil(v)``, ``$lt v`` → ``$lt ceil(v)``, ``$lte v`` →
  ``$lte floor(v)``; ``$eq``/``$in`` keep the integral values (``$eq 0.5``
  matches no int);
* floats by key against ``float_key(float(v))`` (``float(v)`` is exact for
  the ints the contract accepts, within ±(2**53 - 1)).

Guards.  Chroma filters with ``$eq``/``$in`` (and ranges) by collecting the
records each clause matches, and with ``$ne``/``$nin`` by removing those the
positive clause matches, so a clause costs what it matches: the guard
``{"c.vs_type": "i"}`` matched every record of an all-int field, and made
``{"cat": 3}`` cost 1.6 times Chroma's plain ``{"cat": 3}``.  So the int
branch is guarded the cheap way round, by excluding the other tags
(``{"c.vs_type": {"$nin": [...]}}``, equivalent wherever ``c`` is set, as a
comparison on ``c`` needs); the float branch needs no guard, since only
float-tagged records hold a key.

``{"c": {"$gte": 1.5}}`` becomes ``{"$or": [{"$and": [{"c": {"$gte": 2}},
{"c.vs_type": {"$nin": ["d", "s", "b", "n", "f"]}}]}, {"c.vs_f64": {"$gte":
float_key(1.5)}}]}``.

Negation.  Chroma has no ``$not``.  The parser already pushed negation down to
``$ne``, ``$nin`` and a negated range; each is compiled as the complement of
its positive form: per branch ``tag != T OR (the in-type complement)``, ANDed
(each already a complement, cheap as above),
which also matches records lacking the field or holding another type.  Strings
and booleans need no tag (Chroma compares them in their own column, and its
``$ne``/``$nin`` match records lacking the field).  ``$in``/``$nin`` lists of
mixed types, which Chroma refuses, are split per type the same way.

Schema fields.  A field of the collection's schema (``schema={"cat": "int"}``) is held by
every record with a value of its one type, so it needs no tag: its values are stored as they
are (a float also with its key), and a comparison on it compiles to one Chroma comparison with
an operand of that type (a float's on its key), negated as the plain complement: no record lacks
the field, and none holds another type.  A comparison no value of that type can meet (``$eq
0.5`` on ints, a string on numbers) is a constant, written as ``f == v AND f != v`` (or ``OR``
for true).  The tags cost Chroma a third more time on a ``get`` of ints (one more SQLite row per
field), which the schema saves.

Collections created before the float keys may hold numbers tagged ``"n"``
(before the int/float split) or floats tagged ``"f"`` (without a key)
(``legacy=True``): extra branches compare those with Chroma's own semantics,
as before; records upserted again get exact tags.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Union

from ...filters import And, Cmp, Node, Not, Or, type_tag
from ...floatkey import float_key, key_float

TYPE_SUFFIX = ".vs_type"
KEY_SUFFIX = ".vs_f64"
FLOAT = "d"
#: set on a record stored without text (its document is ``""``: a ``None`` document would keep
#: the one an earlier upsert stored); holds ``.``, so never a user key
NO_TEXT = "vs.no_text"
LEGACY_NUMBER = "n"
LEGACY_FLOAT = "f"
#: every tag but the int one: the cheap guard of the int branch (see Guards)
_NOT_INT = ["d", "s", "b", LEGACY_NUMBER, LEGACY_FLOAT]
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1
_COMPLEMENT = {"$eq": "$ne", "$in": "$nin", "$gt": "$lte", "$gte": "$lt", "$lt": "$gte", "$lte": "$gt"}
_POSITIVE = {"$ne": "$eq", "$nin": "$in"}

Where = dict[str, Any]
_NO_SCHEMA: Mapping[str, str] = {}
# one stored type's part of a comparison: (the tag guarding it, or None for str/bool,
# and (op, operand); True: every value of that type, False: none)
Cond = Union[tuple[str, Any], bool]
Branch = tuple[Union[str, None], Cond]


def value_tag(value: Any) -> str:
    """``"i"``, ``"d"``, ``"s"`` or ``"b"``: the stored type of a metadata value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return type_tag(value)
    return "i" if isinstance(value, int) else FLOAT


def with_type_tags(meta: dict[str, Any], text: str | None, keys: Iterable[str] = (),
                   schema: Mapping[str, str] = _NO_SCHEMA) -> dict[str, Any]:
    """Metadata as stored in Chroma, written over whatever the record held before.

    Chroma's upsert *merges* into a stored record (a key the new metadata lacks stays, a ``None``
    document keeps the old one), so every key of ``keys`` (all the collection's keys) that
    ``meta`` lacks, and each tag or float key that does not apply, is written as ``None``, which
    Chroma deletes; and :data:`NO_TEXT` is set for a record without text, cleared otherwise.
    Fields of ``schema`` (every record holds them, with their type) get no tag."""
    out: dict[str, Any] = {}
    for key in keys:
        if key not in schema:
            out[key] = out[key + TYPE_SUFFIX] = out[key + KEY_SUFFIX] = None
    for key, value in meta.items():
        out[key] = value
        if key in schema:
            if schema[key] == "float":
                out[key + KEY_SUFFIX] = float_key(value)
            continue
        tag = out[key + TYPE_SUFFIX] = value_tag(value)
        out[key + KEY_SUFFIX] = float_key(value) if tag == FLOAT else None
    out[NO_TEXT] = True if text is None else None
    return out


def without_type_tags(meta: dict[str, Any] | None) -> dict[str, Any]:
    """User metadata from a stored record: tags dropped, floats decoded from their keys."""
    if not meta:
        return {}
    out: dict[str, Any] = {}
    keyed: list[str] = []
    for key, value in meta.items():
        if "." not in key:  # user keys never hold "."
            out[key] = value
        elif key.endswith(KEY_SUFFIX):
            keyed.append(key)
    for key in keyed:
        field = key[: -len(KEY_SUFFIX)]
        if field in out:
            out[field] = key_float(meta[key])
    return out


def compile_where(node: Node | None, legacy: bool = False, schema: Mapping[str, str] = _NO_SCHEMA) -> Where | None:
    """Chroma's ``where`` for a parsed filter; ``legacy``: the collection may hold ``"n"`` tags;
    ``schema``: the collection's required fields and their types (untagged)."""
    return None if node is None else _compile(node, legacy, schema)


def _compile(node: Node, legacy: bool, schema: Mapping[str, str]) -> Where:
    if isinstance(node, (And, Or)):
        return _join("$and" if isinstance(node, And) else "$or", [_compile(n, legacy, schema) for n in node.items])
    if isinstance(node, Not):
        cmp, negate = node.item, True
    elif node.op in _POSITIVE:
        cmp, negate = Cmp(node.field, _POSITIVE[node.op], node.value), True
    else:
        cmp, negate = node, False
    kind = schema.get(cmp.field)
    if kind is not None:
        return _typed(cmp, kind, negate)
    parts = [_part(cmp.field, tag, cond, negate) for tag, cond in _branches(cmp, legacy) if cond is not False]
    # a comparison ORs its branches; its complement ANDs theirs
    return _join("$and" if negate else "$or", parts)


def _typed(cmp: Cmp, kind: str, negate: bool) -> Where:
    """A comparison on a schema field of type ``kind`` (see Schema fields)."""
    target = cmp.field + KEY_SUFFIX if kind == "float" else cmp.field
    cond = _typed_cond(cmp, kind)
    if isinstance(cond, bool):
        probe = {"str": "", "bool": False}.get(kind, 0)  # a float's key is an int
        sides = [{target: {"$eq": probe}}, {target: {"$ne": probe}}]
        return {"$or" if cond != negate else "$and": sides}
    op, operand = cond
    return {target: {_COMPLEMENT[op] if negate else op: operand}}


def _typed_cond(cmp: Cmp, kind: str) -> Cond:
    """The condition on values of type ``kind`` equivalent to ``cmp`` (positive)."""
    values = list(cmp.value) if cmp.op == "$in" else [cmp.value]
    if kind in ("str", "bool"):
        mine = [v for v in values if isinstance(v, bool) == (kind == "bool") and isinstance(v, (str, bool))]
        return _set(mine) if mine and cmp.op in ("$eq", "$in") else False  # ranges compare numbers only
    nums = [v for v in values if not isinstance(v, (bool, str))]
    if not nums:
        return False
    return _int_cond(cmp.op, nums) if kind == "int" else _float_cond(cmp.op, nums)


def _join(op: str, items: list[Where]) -> Where:
    assert items, "a comparison always keeps a branch that can match"
    return items[0] if len(items) == 1 else {op: items}


def _part(field: str, tag: str | None, cond: Cond, negate: bool) -> Where:
    """One branch: ``tag == T AND cond``; negated, ``tag != T OR (the complement of cond)``.
    Positive int and float branches with a condition are guarded the cheap way (see Guards)."""
    items: list[Where] = []
    if tag is not None and (isinstance(cond, bool) or negate or tag not in ("i", FLOAT)):
        items.append({field + TYPE_SUFFIX: {"$ne" if negate else "$eq": tag}})
    if not isinstance(cond, bool):
        op, operand = cond
        target = field + KEY_SUFFIX if tag == FLOAT else field
        items.append({target: {_COMPLEMENT[op] if negate else op: operand}})
        if not negate and tag == "i":
            items.append({field + TYPE_SUFFIX: {"$nin": list(_NOT_INT)}})
    return _join("$or" if negate else "$and", items)


def _branches(cmp: Cmp, legacy: bool) -> list[Branch]:
    """A positive comparison (``$eq``, ``$in`` or a range) split by stored type."""
    values = list(cmp.value) if cmp.op == "$in" else [cmp.value]
    bools = [v for v in values if isinstance(v, bool)]
    strs = [v for v in values if isinstance(v, str)]
    nums = [v for v in values if not isinstance(v, (bool, str))]
    out: list[Branch] = [(None, _set(group)) for group in (strs, bools) if group]
    if nums:
        out += [("i", _int_cond(cmp.op, nums)), (FLOAT, _float_cond(cmp.op, nums))]
        if legacy:
            out.append((LEGACY_FLOAT, _legacy_float_cond(cmp.op, nums)))
            out.append((LEGACY_NUMBER, _legacy_cond(cmp.op, nums)))
    return out


def _set(values: list[Any]) -> tuple[str, Any]:
    unique = list(dict.fromkeys(values))
    return ("$eq", unique[0]) if len(unique) == 1 else ("$in", unique)


def _int_cond(op: str, nums: list[int | float]) -> Cond:
    """The condition on int-stored values equivalent to ``op nums``, with an int operand."""
    if op in ("$eq", "$in"):
        ints = [int(v) for v in nums if isinstance(v, int) or v.is_integer()]
        ints = [n for n in ints if _I64_MIN <= n <= _I64_MAX]
        return _set(ints) if ints else False
    bound = math.floor(nums[0]) if op in ("$gt", "$lte") else math.ceil(nums[0])
    if bound > _I64_MAX:
        return op in ("$lt", "$lte")
    if bound < _I64_MIN:
        return op in ("$gt", "$gte")
    return (op, bound)


def _float_cond(op: str, nums: list[int | float]) -> Cond:
    """The condition on the float keys (``<field>.vs_f64``) equivalent to ``op nums``."""
    keys = [float_key(float(v)) for v in nums]
    return _set(keys) if op in ("$eq", "$in") else (op, keys[0])


def _legacy_float_cond(op: str, nums: list[int | float]) -> Cond:
    floats = [float(v) for v in nums]
    return _set(floats) if op in ("$eq", "$in") else (op, floats[0])


def _legacy_cond(op: str, nums: list[int | float]) -> Cond:
    """Chroma's own comparison, for numbers tagged ``"n"`` (one type per list, as Chroma wants)."""
    if op not in ("$eq", "$in"):
        return (op, nums[0])
    return _set(nums if all(isinstance(v, int) for v in nums) else [float(v) for v in nums])
