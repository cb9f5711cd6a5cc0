"""Metadata as ``jsonb`` and filters compiled to SQL with bound parameters only.

Values never enter the statement's text: every key and value is a parameter
(``%s``), so a quote, a backslash or ``'; DROP TABLE`` stays data.  The parsed
tree (:mod:`vecstore.filters`) compiles as:

* ``k == v``     → ``metadata @> {"k": v}``: jsonb containment compares by JSON
  type (``true`` is not ``1``) and numbers as numbers (``1`` equals ``1.0``);
* ``k in [...]`` → ``(metadata -> k) = ANY(array of jsonb)``, same equality;
* ranges         → ``jsonb_typeof(metadata -> k) = 'number' AND (metadata -> k) > v``
  (jsonb orders numbers numerically; the type check keeps strings and booleans out);
* complements    → ``NOT (containment)``, or ``(…) IS NOT TRUE`` where a missing
  key gives NULL, so records without the key match them (the contract's rule).

Floats are written so that jsonb keeps them floats with their exact value: the
shortest ``repr``, spelled without an exponent and always with a decimal point
(``1e+20`` as ``100000000000000000000.0``); PostgreSQL's ``numeric`` keeps the
digits and the scale, and reading ``…0.0`` back gives a ``float`` again.
Shortest representations order as their floats do, so comparisons are exact.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from psycopg import sql
from psycopg.types.json import Jsonb

from ...filters import And, Cmp, Node, Not, Or

_OPS = {"$gt": ">", "$gte": ">=", "$lt": "<", "$lte": "<="}


def float_text(value: float) -> str:
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text if "." in text else text + ".0"


def scalar_json(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, float):
        return float_text(value)
    if isinstance(value, int):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def dumps(obj: Any) -> str:
    """JSON text of validated metadata (a flat dict of scalars) or of one scalar.

    ``json.dumps`` (in C) serves unless a float is written with a positive exponent
    (``1e+16`` and up), which jsonb would read back as an integer."""
    text = json.dumps(obj)
    if "e+" not in text:
        return text
    if isinstance(obj, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{scalar_json(v)}" for k, v in obj.items()) + "}"
    return scalar_json(obj)


def jsonb(obj: Any) -> Jsonb:
    return Jsonb(obj, dumps=dumps)


def where(node: Node | None) -> tuple[sql.Composable, list[Any]]:
    """``WHERE …`` (or nothing) and its parameters."""
    if node is None:
        return sql.SQL(""), []
    params: list[Any] = []
    return sql.SQL(" WHERE ") + _expr(node, params), params


def condition(node: Node, params: list[Any]) -> sql.Composable:
    """The filter as a boolean expression, its parameters appended to ``params``."""
    return _expr(node, params)


def _expr(node: Node, params: list[Any]) -> sql.Composable:
    if isinstance(node, (And, Or)):
        joiner = sql.SQL(" AND " if isinstance(node, And) else " OR ")
        return sql.SQL("(") + joiner.join(_expr(n, params) for n in node.items) + sql.SQL(")")
    if isinstance(node, Not):
        return sql.SQL("(") + _range(node.item, params) + sql.SQL(") IS NOT TRUE")
    if node.op in ("$eq", "$ne"):
        params.append(jsonb({node.field: node.value}))
        return sql.SQL("(metadata @> %s)" if node.op == "$eq" else "(NOT (metadata @> %s))")
    if node.op in ("$in", "$nin"):
        params.extend([node.field, [jsonb(v) for v in node.value]])
        test = sql.SQL("((metadata -> %s) = ANY(%s::jsonb[]))")
        return test if node.op == "$in" else sql.SQL("(") + test + sql.SQL(" IS NOT TRUE)")
    return _range(node, params)


def _range(node: Cmp, params: list[Any]) -> sql.Composable:
    params.extend([node.field, node.field, jsonb(node.value)])
    return sql.SQL("(jsonb_typeof(metadata -> %s) = 'number' AND (metadata -> %s) {} %s)").format(
        sql.SQL(_OPS[node.op]))
