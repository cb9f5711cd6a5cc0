"""The filter language's parser and reference evaluator."""

from __future__ import annotations

import pytest

from vecstore.errors import FilterError
from vecstore.filters import And, Cmp, Not, Or, fields, matches, parse


def test_simple_and_implicit_and():
    assert parse({"lang": "es"}) == Cmp("lang", "$eq", "es")
    assert parse({"lang": "es", "year": {"$gte": 2020, "$lt": 2024}}) == And(
        (Cmp("lang", "$eq", "es"), Cmp("year", "$gte", 2020), Cmp("year", "$lt", 2024))
    )
    assert parse({}) is None and parse(None) is None


def test_not_is_pushed_down():
    assert parse({"$not": {"lang": "es"}}) == Cmp("lang", "$ne", "es")
    assert parse({"$not": {"lang": {"$in": ["a", "b"]}}}) == Cmp("lang", "$nin", ("a", "b"))
    assert parse({"$not": {"$and": [{"a": 1}, {"b": {"$gt": 2}}]}}) == Or((Cmp("a", "$ne", 1), Not(Cmp("b", "$gt", 2))))
    assert parse({"$not": {"$or": [{"a": 1}, {"b": 2}]}}) == And((Cmp("a", "$ne", 1), Cmp("b", "$ne", 2)))
    assert parse({"$not": {"$not": {"a": 1}}}) == Cmp("a", "$eq", 1)
    assert parse({"$not": {"a": 1, "b": 2}}) == Or((Cmp("a", "$ne", 1), Cmp("b", "$ne", 2)))


@pytest.mark.parametrize(
    "bad",
    [
        {"a": {"$regex": "x"}},
        {"$nor": []},
        {"a": {"$gt": "x"}},
        {"a": {"$gt": True}},
        {"a": {"$in": []}},
        {"a": {"$in": "x"}},
        {"a": [1, 2]},
        {"a": None},
        {"a": {"$eq": float("nan")}},
        {"$and": []},
        {"$or": {"a": 1}},
        {"a.b": 1},
        {"a": {"$gt": 1, "plain": 2}},
        {"a": {"$not": {"$eq": 1}}},
        "lang = 'es'",
    ],
)
def test_invalid_filters(bad):
    with pytest.raises(FilterError):
        parse(bad)


def test_typed_equality():
    assert matches(parse({"b": True}), {"b": True})
    assert not matches(parse({"b": True}), {"b": 1})
    assert not matches(parse({"n": 1}), {"n": True})
    assert matches(parse({"n": 1}), {"n": 1.0})
    assert not matches(parse({"s": "1"}), {"s": 1})


def test_missing_field():
    for flt in ({"t": "x"}, {"t": {"$in": ["x"]}}, {"t": {"$lt": 5}}, {"$not": {"t": {"$ne": "x"}}}):
        assert not matches(parse(flt), {"other": 1}), flt
    for flt in ({"t": {"$ne": "x"}}, {"$not": {"t": "x"}}, {"t": {"$nin": ["x"]}}, {"$not": {"t": {"$lt": 5}}}):
        assert matches(parse(flt), {"other": 1}), flt


def test_negated_range_is_a_complement():
    flt = parse({"$not": {"n": {"$gte": 5}}})
    assert matches(flt, {"n": 4}) and not matches(flt, {"n": 5})
    assert matches(flt, {"n": "text"}) and matches(flt, {})


def test_fields():
    assert fields(parse({"$or": [{"a": 1}, {"b": {"$gt": 2}, "c": 3}, {"$not": {"d": {"$lt": 1}}}]})) == {"a", "b", "c", "d"}
