"""The filter language's parser and reference evaluator."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


_values = st.one_of(st.booleans(), st.integers(-3, 3), st.sampled_from([0.0, 1.0, 2.5, -1.0]),
                    st.sampled_from(["a", "b", "1", "True", ""]))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["x", "y"]), st.one_of(_values, st.lists(_values, max_size=2)), max_size=2),
       st.sampled_from(["$in", "$nin"]), st.sampled_from(["x", "y"]), st.lists(_values, min_size=1, max_size=5),
       st.booleans())
def test_compiled_matcher_agrees_with_the_reference(metadata, op, field, values, wrap):
    """``matcher`` (a set lookup, used by the Faiss adapter) gives exactly the answers of
    ``matches`` (a typed scan): 1 and 1.0 alike, True never 1, a list never a value."""
    from vecstore.filters import matcher

    flt = {field: {op: values}}
    if wrap:
        flt = {"$or": [flt, {"y": {"$gt": 2}}]}
    node = parse(flt)
    assert matcher(node)(metadata) == matches(node, metadata)
