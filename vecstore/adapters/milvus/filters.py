r"""Compile a parsed filter into Milvus's boolean expression language, safely.

Milvus Lite has no expression templates (``{param}`` binding), so values are
written as literals — but only literals that cannot change the expression's
structure: the parser has already checked every value's type, numbers are
rendered by Python (``repr`` of an int or a finite float), booleans as
``true``/``false``, and strings and field names as double-quoted literals in
which ``"``, ``\``, newline, carriage return and tab are backslash-escaped and
every other character (control characters included) is written as itself.
Both parsers, Milvus Lite's tokenizer and a server's, know those five escapes
and take any other character raw; ``json.dumps`` would also write ``\b``, ``\f``
and ``\u00XX``, which Milvus Lite refuses.  A value such as ``" or 1==1``
therefore stays one string literal, and so does a record id in the
``id > "..."`` cursor that pages ``iterate()``.

Semantics (MongoDB's, as the contract wants) need two things Milvus does not
give on JSON fields: typed equality (Milvus finds ``true == 1``) and
complements that match missing keys (Milvus's ``!=`` and ``not`` are false on
a missing key).  So each record carries ``vs_types``, a JSON object of type
tags per metadata key (``"s"``, ``"n"``, ``"b"``), and:

* ``k == v`` → ``(metadata[k] == v and vs_types[k] == "<tag of v>")``;
* ``k in [a, b]`` → the ``or`` of those equalities (Milvus allows ``in`` only on fields);
* ranges → ``(metadata[k] > v and vs_types[k] == "n")``;
* a complement (``$ne``, ``$nin``, negated range) → ``(not exists vs_types[k] or not (C))``.

The value test comes first: Milvus Lite evaluates a JSON-path filter row by row and stops an
``and`` at its first false operand, so the type tags are decoded only for the rows whose value
matches (on 20,000 rows, ``{cat: 3}``: 0.79 s a query with the tag first, 0.73 s value first,
the same as ``metadata["cat"] == 3`` alone).  The two operands commute, so the order changes
no result.
"""

from __future__ import annotations

from typing import Any

from ...filters import And, Cmp, Node, Not, Or, type_tag

_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}
_COMPLEMENT = {"$ne": "$eq", "$nin": "$in"}
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"})


def type_tags(meta: dict[str, Any]) -> dict[str, str]:
    return {k: type_tag(v) for k, v in meta.items()}


def literal(value: Any) -> str:
    """A Milvus literal for a validated scalar (str, int, float, bool)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, str):
        return '"' + value.translate(_ESCAPES) + '"'
    raise TypeError(f"not a filter value: {value!r}")


def _path(column: str, field: str) -> str:
    return f"{column}[{literal(field)}]"


def compile_expr(node: Node | None) -> str:
    """The expression string ('' for no filter)."""
    if node is None:
        return ""
    return _expr(node)


def _expr(node: Node) -> str:
    if isinstance(node, And):
        return "(" + " and ".join(_expr(n) for n in node.items) + ")"
    if isinstance(node, Or):
        return "(" + " or ".join(_expr(n) for n in node.items) + ")"
    if isinstance(node, Not):
        return _complement(node.item.field, _positive(node.item))
    if node.op in _COMPLEMENT:
        return _complement(node.field, _positive(Cmp(node.field, _COMPLEMENT[node.op], node.value)))
    return _positive(node)


def _complement(field: str, condition: str) -> str:
    return f"(not (exists {_path('vs_types', field)}) or not {condition})"


def _equals(field: str, value: Any) -> str:
    return f"({_path('metadata', field)} == {literal(value)} and {_path('vs_types', field)} == {literal(type_tag(value))})"


def _positive(node: Cmp) -> str:
    if node.op == "$eq":
        return _equals(node.field, node.value)
    if node.op == "$in":
        return "(" + " or ".join(_equals(node.field, v) for v in node.value) + ")"
    return (f"({_path('metadata', node.field)} {_OPS[node.op]} {literal(node.value)} and "
            f"{_path('vs_types', node.field)} == \"n\")")


def ids_expr(ids: list[str]) -> str:
    """``id in [...]`` with every id an escaped string literal."""
    return f"id in [{', '.join(literal(i) for i in ids)}]"
