"""The conformance suite every adapter passes.

A backend's test module supplies one fixture, ``store_factory``: a zero-argument
callable that returns a *new* client on the same location (for an embedded
store, the same directory; for a server, the same URL).  Then::

    from vecstore.testing.conformance import ConformanceSuite

    class TestMyBackend(ConformanceSuite):
        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: vecstore.connect(f"mydb://{tmp_path}")

The suite reads ``store.capabilities`` (persistence, exact search, index types)
instead of skipping: a backend that cannot search exactly must *refuse*
``exact=True`` with :class:`UnsupportedOperationError`, and the suite checks that.
Every test uses fresh, uniquely named collections and drops them afterwards.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

import vecstore
from vecstore import filters
from vecstore.errors import (
    CollectionConfigError,
    CollectionNotFoundError,
    ConfigError,
    DimensionMismatchError,
    FilterError,
    InvalidInputError,
    UnsupportedOperationError,
)
from vecstore.types import INDEX_TYPES

__all__ = [
    "BadInputTests",
    "ConformanceSuite",
    "CrudTests",
    "FilterTests",
    "LexicalTests",
    "PersistenceTests",
    "ScaleTests",
    "ScoreTests",
    "StoreFixtures",
    "make_records",
]

TOLERANCE = 1e-4
ODD_IDS = ["doc-1#0", "ü/ß", "x" * 300, "with space", "quote'\"", "0"]


def make_records(n: int, dim: int, seed: int = 0, clustered: bool = False) -> list[dict[str, Any]]:
    """``n`` records with varied metadata: the suite's test data."""
    rng = np.random.default_rng(seed)
    if clustered:
        centers = rng.normal(size=(max(1, n // 50), dim))
        vectors = centers[rng.integers(0, len(centers), n)] + 0.3 * rng.normal(size=(n, dim))
    else:
        vectors = rng.normal(size=(n, dim))
    records = []
    for i in range(n):
        meta: dict[str, Any] = {
            "lang": ("en", "es", "fr")[i % 3],
            "year": 2000 + i % 25,
            "score": round(i / 10, 1),
            "flag": i % 2 == 0,
            "bucket": i % 100,
        }
        if i % 7 == 0:
            meta["tag"] = "rare" if i % 14 == 0 else "common"
        if i % 5 == 0:
            meta["rank"] = i % 20
        records.append({"id": f"r{i}", "vector": vectors[i].astype(np.float32), "text": f"text of record {i}", "metadata": meta})
    return records


def reference_scores(metric: str, queries: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    q = np.asarray(queries, dtype=np.float64)
    x = np.asarray(vectors, dtype=np.float64)
    if metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        return q @ x.T
    if metric == "dot":
        return q @ x.T
    return -np.sqrt(((q[:, None, :] - x[None, :, :]) ** 2).sum(-1))


class StoreFixtures:
    """Fixtures built on the backend's ``store_factory``."""

    @pytest.fixture
    def store(self, store_factory: Callable[[], vecstore.VectorStore]) -> Iterator[vecstore.VectorStore]:
        store = store_factory()
        yield store
        store.close()

    @pytest.fixture
    def collection_defaults(self) -> dict[str, Any]:
        """Keyword arguments every new test collection gets (override: ``{"index": "hnsw"}``)."""
        return {}

    @pytest.fixture
    def new_collection(
        self, store: vecstore.VectorStore, collection_defaults: dict[str, Any]
    ) -> Iterator[Callable[..., vecstore.Collection]]:
        """``new_collection(dim=8, metric=..., index=..., **options)`` with a fresh name."""
        names: list[str] = []

        def make(dim: int = 8, **kwargs: Any) -> vecstore.Collection:
            name = f"vs-{uuid.uuid4().hex[:12]}"
            names.append(name)
            defaults = collection_defaults
            if "index" in kwargs and kwargs["index"] != defaults.get("index"):
                defaults = {}  # the defaults' index options belong to their index type
            return store.collection(name, dim=dim, **{**defaults, **kwargs})

        yield make
        for name in names:
            try:
                store.drop_collection(name)
            except vecstore.VecstoreError:
                pass

    @pytest.fixture
    def filled(self, new_collection: Callable[..., vecstore.Collection]) -> tuple[vecstore.Collection, list[dict[str, Any]]]:
        records = make_records(300, 8, seed=1)
        col = new_collection(dim=8)
        col.upsert(records)
        return col, records


def _search_k(col: vecstore.Collection, query: Any, k: int, **kwargs: Any) -> list[vecstore.Hit]:
    """Exact search where the backend has it, approximate otherwise."""
    return col.search(query, k=k, exact=col.store.capabilities.exact_search, **kwargs)


class CrudTests(StoreFixtures):
    def test_upsert_get_roundtrip(self, new_collection: Any) -> None:
        col = new_collection(dim=4, metric="dot")
        vec = np.array([0.5, -1.0, 2.0, 0.25], dtype=np.float32)
        meta = {"s": "x", "i": 7, "f": 2.5, "b": True, "neg": -3}
        assert col.upsert([{"id": "a", "vector": vec, "text": "hello", "metadata": meta}]) == 1
        (rec,) = col.get(["a"])
        assert rec.id == "a" and rec.text == "hello"
        assert rec.metadata == meta
        for key, value in meta.items():
            assert type(rec.metadata[key]) is type(value), key
        np.testing.assert_allclose(rec.vector, vec, rtol=1e-6)

    def test_columns_and_numpy_input(self, new_collection: Any) -> None:
        col = new_collection(dim=3, metric="l2")
        vectors = np.arange(9, dtype=np.float64).reshape(3, 3)
        assert col.upsert(ids=["a", "b", "c"], vectors=vectors, texts=["A", None, "C"]) == 3
        recs = col.get(["c", "a", "b"])
        assert [r.id for r in recs] == ["c", "a", "b"]
        assert recs[0].text == "C" and recs[2].text is None and recs[2].metadata == {}
        np.testing.assert_allclose(recs[0].vector, [6, 7, 8])

    def test_cosine_vectors_come_back_normalized(self, new_collection: Any) -> None:
        col = new_collection(dim=2, metric="cosine")
        col.upsert([{"id": "a", "vector": [3.0, 4.0]}])
        np.testing.assert_allclose(col.get(["a"])[0].vector, [0.6, 0.8], atol=1e-6)

    def test_overwrite_same_id(self, new_collection: Any) -> None:
        col = new_collection(dim=2, metric="dot")
        col.upsert([{"id": "a", "vector": [1, 0], "text": "old", "metadata": {"v": 1}}])
        col.upsert([{"id": "a", "vector": [0, 1], "text": "new", "metadata": {"v": 2}}])
        assert col.count() == 1
        (rec,) = col.get(["a"])
        assert rec.text == "new" and rec.metadata == {"v": 2}
        np.testing.assert_allclose(rec.vector, [0, 1])
        (hit,) = col.search([0, 1], k=5)
        assert hit.id == "a" and math.isclose(hit.score, 1.0, abs_tol=TOLERANCE)
        assert col.count({"v": 1}) == 0

    def test_overwrite_replaces_metadata_and_text(self, new_collection: Any) -> None:
        """An upsert replaces the whole record: keys it lacks are gone, a key changing type keeps
        nothing of the old type, a missing text clears the old one (Chroma merges on its own)."""
        col = new_collection(dim=2, metric="dot")
        col.upsert([{"id": "a", "vector": [1, 0], "text": "old", "metadata": {"c": 0.5, "d": 1, "s": "x"}},
                    {"id": "b", "vector": [0, 1], "text": "keep", "metadata": {"c": 0.5, "d": 1}}])
        col.upsert([{"id": "a", "vector": [1, 0], "metadata": {"c": 3}}])
        rec = col.get(["a"])[0]
        assert rec.text is None and rec.metadata == {"c": 3} and type(rec.metadata["c"]) is int
        assert col.count({"c": 0.5}) == 1 and col.count({"c": 3}) == 1 and col.count({"c": {"$lt": 1}}) == 1
        assert col.count({"d": 1}) == 1 and col.count({"s": "x"}) == 0 and col.count({"s": {"$ne": "x"}}) == 2
        col.upsert([{"id": "a", "vector": [1, 0], "text": "t", "metadata": {"c": 2.5}}])
        rec = col.get(["a"])[0]
        assert rec.metadata == {"c": 2.5} and type(rec.metadata["c"]) is float
        assert col.count({"c": 3}) == 0 and col.count({"c": {"$gt": 2}}) == 1 and col.count({"c": 2.5}) == 1
        col.upsert([{"id": "a", "vector": [1, 0], "text": "t"}])
        assert col.get(["a"])[0].metadata == {} and col.count({"c": 2.5}) == 0
        assert col.count({"c": {"$ne": 2.5}}) == 2 and col.count({"c": 0.5}) == 1
        assert col.get(["b"])[0].metadata == {"c": 0.5, "d": 1} and col.get(["b"])[0].text == "keep"

    def test_duplicate_ids_in_one_call_last_wins(self, new_collection: Any) -> None:
        col = new_collection(dim=2)
        n = col.upsert([{"id": "a", "vector": [1, 0], "text": "first"}, {"id": "a", "vector": [0, 1], "text": "second"}])
        assert n == 1 and col.count() == 1 and col.get(["a"])[0].text == "second"

    def test_odd_ids_roundtrip(self, new_collection: Any) -> None:
        col = new_collection(dim=4)
        rng = np.random.default_rng(3)
        vectors = rng.normal(size=(len(ODD_IDS), 4))
        col.upsert(ids=ODD_IDS, vectors=vectors, texts=ODD_IDS)
        assert sorted(r.id for r in col.get(ODD_IDS)) == sorted(ODD_IDS)
        for i, id_ in enumerate(ODD_IDS):
            hits = col.search(vectors[i], k=1)
            assert hits[0].id == id_ and hits[0].text == id_
        assert col.delete(ODD_IDS[:3]) == 3
        assert sorted(r.id for batch in col.iterate() for r in batch) == sorted(ODD_IDS[3:])

    def test_get_missing_ids_left_out(self, filled: Any) -> None:
        col, _ = filled
        assert [r.id for r in col.get(["r5", "nope", "r6"])] == ["r5", "r6"]
        assert col.get(["nope"]) == []

    def test_count_and_delete_by_id(self, filled: Any) -> None:
        col, records = filled
        assert col.count() == len(records)
        assert col.delete(["r1", "r2", "missing"]) == 2
        assert col.count() == len(records) - 2
        assert col.get(["r1", "r2"]) == []
        hits = col.search(records[1]["vector"], k=3)
        assert "r1" not in {h.id for h in hits}

    def test_delete_by_filter(self, filled: Any) -> None:
        col, records = filled
        expected = sum(1 for r in records if r["metadata"]["lang"] == "es")
        assert col.delete(filter={"lang": "es"}) == expected
        assert col.count() == len(records) - expected
        assert col.count({"lang": "es"}) == 0
        assert all(h.metadata["lang"] != "es" for h in col.search(records[1]["vector"], k=20))

    def test_delete_needs_ids_or_filter(self, filled: Any) -> None:
        col, _ = filled
        with pytest.raises(InvalidInputError):
            col.delete()
        with pytest.raises(InvalidInputError):
            col.delete(["r1"], filter={"lang": "es"})

    def test_iterate_all_with_vectors(self, filled: Any) -> None:
        col, records = filled
        seen: dict[str, Any] = {}
        for batch in col.iterate(batch_size=64):
            assert 0 < len(batch) <= 64
            for rec in batch:
                assert rec.id not in seen
                seen[rec.id] = rec
        assert set(seen) == {r["id"] for r in records}
        want = records[17]
        got = seen[want["id"]]
        assert got.text == want["text"] and got.metadata == want["metadata"]
        np.testing.assert_allclose(got.vector, want["vector"] / np.linalg.norm(want["vector"]), atol=1e-5)

    def test_iterate_with_filter_without_vectors(self, filled: Any) -> None:
        col, records = filled
        ids = {r.id for batch in col.iterate(filter={"lang": "fr"}, include_vectors=False) for r in batch}
        assert ids == {r["id"] for r in records if r["metadata"]["lang"] == "fr"}

    def test_search_returns_text_metadata_and_vectors_on_request(self, filled: Any) -> None:
        col, records = filled
        hits = col.search(records[10]["vector"], k=3, include_vectors=True)
        assert hits[0].id == "r10" and hits[0].text == records[10]["text"]
        assert hits[0].metadata == records[10]["metadata"]
        assert hits[0].vector is not None and hits[0].vector.shape == (8,)
        assert col.search(records[10]["vector"], k=3)[0].vector is None
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)

    def test_search_batch(self, filled: Any) -> None:
        col, records = filled
        queries = np.stack([records[i]["vector"] for i in (3, 4, 5)])
        results = col.search_batch(queries, k=4)
        assert [r[0].id for r in results] == ["r3", "r4", "r5"]
        assert all(len(r) == 4 for r in results)
        assert col.search_batch(np.empty((0, 8)), k=4) == []

    def test_k_larger_than_collection(self, new_collection: Any) -> None:
        col = new_collection(dim=2)
        col.upsert([{"id": "a", "vector": [1, 0]}, {"id": "b", "vector": [0, 1]}])
        assert {h.id for h in col.search([1, 1], k=50)} == {"a", "b"}

    def test_empty_collection(self, new_collection: Any) -> None:
        col = new_collection(dim=2)
        assert col.count() == 0
        assert col.search([1, 0], k=3) == []
        assert list(col.iterate()) == []

    def test_collections_lifecycle(self, store: vecstore.VectorStore, new_collection: Any) -> None:
        col = new_collection(dim=3, metric="l2", info={"model": "m1"})
        assert col.name in store.list_collections() and store.has_collection(col.name)
        again = store.collection(col.name)
        assert (again.dim, again.metric, again.info) == (3, "l2", {"model": "m1"})
        again.update_info({"note": "x"})
        assert store.collection(col.name).info == {"model": "m1", "note": "x"}
        assert store.drop_collection(col.name) is True
        assert col.name not in store.list_collections()
        assert store.drop_collection(col.name) is False
        with pytest.raises(CollectionNotFoundError):
            store.collection(col.name)

    def test_open_with_other_settings_raises(self, store: vecstore.VectorStore, new_collection: Any) -> None:
        col = new_collection(dim=4, metric="dot")
        with pytest.raises(CollectionConfigError):
            store.collection(col.name, dim=5)
        with pytest.raises(CollectionConfigError):
            store.collection(col.name, metric="l2")
        assert store.collection(col.name, dim=4, metric="dot").dim == 4

    def test_invalid_collection_name(self, store: vecstore.VectorStore) -> None:
        for name in ("", "Upper", "has space", "-lead", "x" * 64, "dot.name"):
            with pytest.raises(ConfigError):
                store.collection(name, dim=2)

    def test_index_types(self, store: vecstore.VectorStore, new_collection: Any) -> None:
        records = make_records(100, 8, seed=5)
        for index in store.capabilities.index_types:
            col = new_collection(dim=8, index=index)
            assert col.index == index
            col.upsert(records)
            assert col.search(records[42]["vector"], k=1)[0].id == "r42"
        for index in set(INDEX_TYPES) - set(store.capabilities.index_types):
            with pytest.raises(UnsupportedOperationError):
                new_collection(dim=8, index=index)


# (filter, the same condition in plain Python); metadata from make_records()
def _has(m: dict[str, Any], key: str) -> bool:
    return key in m


FILTER_CASES: list[tuple[dict[str, Any], Callable[[dict[str, Any]], bool]]] = [
    ({"lang": "es"}, lambda m: m["lang"] == "es"),
    ({"lang": {"$eq": "fr"}}, lambda m: m["lang"] == "fr"),
    ({"lang": {"$ne": "es"}}, lambda m: m["lang"] != "es"),
    ({"year": 2003}, lambda m: m["year"] == 2003),
    ({"year": {"$gt": 2020}}, lambda m: m["year"] > 2020),
    ({"year": {"$gte": 2020}}, lambda m: m["year"] >= 2020),
    ({"year": {"$lt": 2004}}, lambda m: m["year"] < 2004),
    ({"year": {"$lte": 2004}}, lambda m: m["year"] <= 2004),
    ({"year": {"$gte": 2005, "$lt": 2010}}, lambda m: 2005 <= m["year"] < 2010),
    ({"score": {"$gt": 10.5}}, lambda m: m["score"] > 10.5),
    ({"score": {"$lte": 2.0}}, lambda m: m["score"] <= 2.0),
    ({"lang": {"$in": ["es", "fr"]}}, lambda m: m["lang"] in ("es", "fr")),
    ({"lang": {"$nin": ["es", "fr"]}}, lambda m: m["lang"] not in ("es", "fr")),
    ({"year": {"$in": [2001, 2003]}}, lambda m: m["year"] in (2001, 2003)),
    ({"year": {"$nin": [2001, 2003]}}, lambda m: m["year"] not in (2001, 2003)),
    ({"flag": True}, lambda m: m["flag"] is True),
    ({"flag": {"$ne": True}}, lambda m: m["flag"] is False),
    ({"lang": "es", "flag": True}, lambda m: m["lang"] == "es" and m["flag"]),
    ({"$and": [{"lang": "es"}, {"year": {"$lt": 2010}}]}, lambda m: m["lang"] == "es" and m["year"] < 2010),
    ({"$or": [{"lang": "es"}, {"year": 2001}]}, lambda m: m["lang"] == "es" or m["year"] == 2001),
    ({"$not": {"lang": "es"}}, lambda m: m["lang"] != "es"),
    ({"$not": {"year": {"$gte": 2010}}}, lambda m: m["year"] < 2010),
    ({"$not": {"year": {"$in": [2001, 2002]}}}, lambda m: m["year"] not in (2001, 2002)),
    ({"$not": {"$or": [{"lang": "es"}, {"lang": "fr"}]}}, lambda m: m["lang"] == "en"),
    ({"$not": {"$and": [{"lang": "es"}, {"flag": True}]}}, lambda m: not (m["lang"] == "es" and m["flag"])),
    (
        {"$or": [{"$and": [{"lang": "en"}, {"year": {"$gte": 2020}}]}, {"tag": "rare"}]},
        lambda m: (m["lang"] == "en" and m["year"] >= 2020) or m.get("tag") == "rare",
    ),
    # fields some records lack: $eq/$in/ranges are false there, $ne/$nin/$not true
    ({"tag": "rare"}, lambda m: m.get("tag") == "rare"),
    ({"tag": {"$in": ["rare", "common"]}}, lambda m: _has(m, "tag")),
    ({"tag": {"$ne": "rare"}}, lambda m: m.get("tag") != "rare"),
    ({"$not": {"tag": "rare"}}, lambda m: m.get("tag") != "rare"),
    ({"tag": {"$nin": ["rare"]}}, lambda m: m.get("tag") != "rare"),
    ({"rank": {"$lte": 10}}, lambda m: _has(m, "rank") and m["rank"] <= 10),
    ({"$not": {"rank": {"$gt": 10}}}, lambda m: not (_has(m, "rank") and m["rank"] > 10)),
    ({"$not": {"$or": [{"rank": {"$lt": 5}}, {"tag": "rare"}]}},
     lambda m: not (_has(m, "rank") and m["rank"] < 5) and m.get("tag") != "rare"),
    # no match
    ({"lang": "de"}, lambda m: False),
    ({"year": {"$gt": 3000}}, lambda m: False),
    ({"$and": [{"lang": "es"}, {"lang": "fr"}]}, lambda m: False),
]


class FilterTests(StoreFixtures):
    @pytest.mark.parametrize("case", range(len(FILTER_CASES)), ids=lambda i: str(FILTER_CASES[i][0]))
    def test_filter(self, filled: Any, case: int) -> None:
        col, records = filled
        flt, predicate = FILTER_CASES[case]
        expected = {r["id"] for r in records if predicate(r["metadata"])}
        assert col.count(flt) == len(expected)
        got = {r.id for batch in col.iterate(filter=flt, include_vectors=False) for r in batch}
        assert got == expected
        hits = col.search(records[0]["vector"], k=7, filter=flt)
        assert len(hits) == min(7, len(expected))
        assert {h.id for h in hits} <= expected

    def test_selective_filter_still_returns_k(self, store: vecstore.VectorStore, new_collection: Any) -> None:
        records = make_records(3000, 16, seed=2)
        approximate = {"index": "hnsw"} if "hnsw" in store.capabilities.index_types else {}
        col = new_collection(dim=16, **approximate)
        col.upsert(records)
        matching = [r for r in records if r["metadata"]["bucket"] == 7]  # 1 % of the records
        query = records[0]["vector"]
        hits = col.search(query, k=10, filter={"bucket": 7})
        assert len(hits) == 10 and all(h.metadata["bucket"] == 7 for h in hits)
        ref = reference_scores("cosine", query[None], np.stack([r["vector"] for r in matching]))[0]
        want = [matching[j]["id"] for j in np.argsort(-ref)[:10]]
        # at 30 candidates every index type must find the true top 10, or nearly
        assert len({h.id for h in hits} & set(want)) >= 9

    def test_unknown_operator_raises_before_backend(self, filled: Any) -> None:
        col, _ = filled
        bad: dict[str, Any]
        for bad in ({"lang": {"$regex": "e.*"}}, {"$nor": [{"lang": "es"}]}, {"year": {"$gt": "2020"}},
                    {"lang": {"$in": []}}, {"lang": {"$in": "es"}}, {"lang": ["es"]}, {"$or": []}):
            with pytest.raises(FilterError):
                col.search(np.ones(8), k=3, filter=bad)
            with pytest.raises(FilterError):
                col.count(bad)
            with pytest.raises(FilterError):
                col.delete(filter=bad)
        assert col.count() == 300


class ScoreTests(StoreFixtures):
    @pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
    def test_scores_match_numpy(self, new_collection: Any, metric: str) -> None:
        rng = np.random.default_rng(11)
        vectors = rng.normal(size=(200, 16)).astype(np.float32)
        queries = rng.normal(size=(5, 16)).astype(np.float32)
        col = new_collection(dim=16, metric=metric)
        col.upsert(ids=[f"v{i}" for i in range(200)], vectors=vectors)
        ref = reference_scores(metric, queries, vectors)
        for qi, query in enumerate(queries):
            hits = _search_k(col, query, 10)
            assert len(hits) == 10
            for hit in hits:
                assert abs(hit.score - ref[qi, int(hit.id[1:])]) <= TOLERANCE * max(1.0, abs(hit.score)), hit
            want = [f"v{j}" for j in np.argsort(-ref[qi])[:10]]
            assert len({h.id for h in hits} & set(want)) >= 9

    @pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
    def test_exact_search_equals_numpy_top_k(self, new_collection: Any, metric: str) -> None:
        records = make_records(500, 12, seed=4)
        col = new_collection(dim=12, metric=metric)
        col.upsert(records)
        vectors = np.stack([r["vector"] for r in records])
        queries = np.random.default_rng(9).normal(size=(4, 12)).astype(np.float32)
        if not col.store.capabilities.exact_search:
            with pytest.raises(UnsupportedOperationError):
                col.search(queries[0], k=5, exact=True)
            return
        for flt in (None, {"lang": "es"}, {"bucket": {"$lt": 10}}):
            keep = [i for i, r in enumerate(records) if flt is None or _numeric_match(flt, r["metadata"])]
            ref = reference_scores(metric, queries, vectors[keep])
            for qi, q in enumerate(queries):
                hits = col.search(q, k=10, exact=True, filter=flt)
                order = np.argsort(-ref[qi], kind="stable")[:10]
                assert [h.id for h in hits] == [records[keep[j]]["id"] for j in order]
                np.testing.assert_allclose([h.score for h in hits], ref[qi][order], atol=TOLERANCE, rtol=TOLERANCE)


def _numeric_match(flt: dict[str, Any], meta: dict[str, Any]) -> bool:
    return filters.matches(filters.parse(flt), meta)


class BadInputTests(StoreFixtures):
    def _assert_nothing_written(self, col: vecstore.Collection, exc: type[Exception], records: list[dict[str, Any]]) -> None:
        before = col.count()
        with pytest.raises(exc):
            col.upsert(records)
        assert col.count() == before
        assert col.get([r["id"] for r in records if isinstance(r.get("id"), str) and r["id"]]) == []

    def test_bad_records_write_nothing(self, new_collection: Any) -> None:
        col = new_collection(dim=3)
        col.upsert([{"id": "keep", "vector": [1, 2, 3]}])
        good = [{"id": f"g{i}", "vector": [1.0, 0.5, i]} for i in range(5)]
        cases: list[tuple[type[Exception], dict[str, Any]]] = [
            (DimensionMismatchError, {"id": "bad", "vector": [1.0, 2.0]}),
            (InvalidInputError, {"id": "bad", "vector": [1.0, float("nan"), 2.0]}),
            (InvalidInputError, {"id": "bad", "vector": [1.0, float("inf"), 2.0]}),
            (InvalidInputError, {"id": "", "vector": [1.0, 2.0, 3.0]}),
            (InvalidInputError, {"id": 5, "vector": [1.0, 2.0, 3.0]}),
            (InvalidInputError, {"id": "bad", "vector": [1.0, 2.0, 3.0], "metadata": {"k": [1, 2]}}),
            (InvalidInputError, {"id": "bad", "vector": [1.0, 2.0, 3.0], "metadata": {"k": None}}),
            (InvalidInputError, {"id": "bad", "vector": [1.0, 2.0, 3.0], "metadata": {"k": {"a": 1}}}),
            (InvalidInputError, {"id": "bad", "vector": [1.0, 2.0, 3.0], "metadata": {"k": float("nan")}}),
            (InvalidInputError, {"id": "bad", "vector": [1.0, 2.0, 3.0], "metadata": {"$k": 1}}),
            (InvalidInputError, {"id": "bad", "vector": [1.0, 2.0, 3.0], "text": 42}),
            (InvalidInputError, {"id": "bad", "vector": ["a", "b", "c"]}),
            (InvalidInputError, {"id": "bad", "vector": [0.0, 0.0, 0.0]}),  # zero vector under cosine
            (InvalidInputError, {"id": "bad", "vector": None}),
        ]
        for exc, bad in cases:
            self._assert_nothing_written(col, exc, [*good, bad])
        assert col.count() == 1

    def test_schema_requires_typed_fields(self, store: vecstore.VectorStore, new_collection: Any) -> None:
        """A schema's fields must be in every record with exactly their type; a batch breaking it
        writes nothing, and the schema is kept with the collection."""
        col = new_collection(dim=3, schema={"year": "int", "score": float, "lang": "str", "ok": bool})
        assert col.schema == {"year": "int", "score": "float", "lang": "str", "ok": "bool"}
        meta: dict[str, Any] = {"year": 2020, "score": 0.5, "lang": "en", "ok": True}
        col.upsert([{"id": "keep", "vector": [1, 2, 3], "metadata": {**meta, "free": "x"}}])
        good = [{"id": f"g{i}", "vector": [1.0, 0.5, i], "metadata": dict(meta, year=2000 + i)} for i in range(5)]
        for bad in ({"year": 2020, "score": 0.5, "lang": "en"}, {**meta, "year": True}, {**meta, "year": 2020.0},
                    {**meta, "score": 1}, {**meta, "lang": 1}, {**meta, "ok": 1}, None):
            self._assert_nothing_written(col, InvalidInputError, [*good, {"id": "bad", "vector": [1, 2, 3],
                                                                          "metadata": bad}])
        assert col.count() == 1
        col.upsert(good)
        assert col.count({"$not": {"year": {"$gt": 2002}}}) == 3 and col.count({"ok": {"$ne": True}}) == 0
        assert store.collection(col.name).schema == col.schema
        assert store.collection(col.name, schema={"lang": "str", "ok": "bool", "score": "float", "year": int}).count() == 6
        with pytest.raises(CollectionConfigError):
            store.collection(col.name, schema={"year": "int"})
        for wrong in ({"year": "integer"}, {"year": list}, {"year": ["int"]}, {"bad key": "int"}, ["year"]):
            with pytest.raises(ConfigError):
                new_collection(dim=3, schema=wrong)

    def test_bad_queries(self, filled: Any) -> None:
        col, _ = filled
        with pytest.raises(DimensionMismatchError):
            col.search(np.ones(7), k=3)
        with pytest.raises(InvalidInputError):
            col.search([1.0, float("nan")] + [0.0] * 6, k=3)
        with pytest.raises(InvalidInputError):
            col.search(np.ones(8), k=0)
        with pytest.raises(InvalidInputError):
            col.search(np.ones((2, 8)), k=3)
        with pytest.raises(InvalidInputError):
            col.search(np.ones(8), k=3, no_such_param=1)
        with pytest.raises(DimensionMismatchError):
            col.search_batch(np.ones((2, 9)), k=3)
        with pytest.raises(InvalidInputError):
            col.get("r1")

    def test_errors_are_typed_builtins_too(self) -> None:
        assert issubclass(FilterError, ValueError) and issubclass(DimensionMismatchError, ValueError)
        assert issubclass(CollectionNotFoundError, LookupError)


class ScaleTests(StoreFixtures):
    def test_ten_thousand_records_in_one_call(self, new_collection: Any) -> None:
        rng = np.random.default_rng(8)
        vectors = rng.normal(size=(10_000, 8)).astype(np.float32)
        ids = [f"n{i}" for i in range(10_000)]
        col = new_collection(dim=8)
        progress: list[int] = []
        assert col.upsert(ids=ids, vectors=vectors, metadata=[{"i": i} for i in range(10_000)], progress=progress.append) == 10_000
        assert sum(progress) == 10_000
        assert col.count() == 10_000
        assert col.count({"i": {"$gte": 9_990}}) == 10
        assert [r.id for r in col.get(["n0", "n9999"])] == ["n0", "n9999"]
        assert col.search(vectors[1234], k=1)[0].id == "n1234"


class PersistenceTests(StoreFixtures):
    def test_data_survives_reopen(self, store_factory: Callable[[], vecstore.VectorStore]) -> None:
        store = store_factory()
        name = f"vs-{uuid.uuid4().hex[:12]}"
        if not store.capabilities.persistent:
            # in memory: a store is its own world, and nothing outlives close()
            store.collection(name, dim=2).upsert([{"id": "a", "vector": [1, 0]}])
            other = store_factory()
            try:
                assert not other.has_collection(name)
            finally:
                other.close()
                store.close()
            return
        records = make_records(120, 8, seed=6)
        col = store.collection(name, dim=8, metric="l2", info={"model": "m"})
        col.upsert(records)
        col.delete(["r3"])
        before = [(h.id, h.score) for h in col.search(records[7]["vector"], k=5)]
        store.close()
        store = store_factory()
        try:
            col = store.collection(name)
            assert (col.dim, col.metric, col.info) == (8, "l2", {"model": "m"})
            assert col.count() == 119 and col.get(["r3"]) == []
            after = [(h.id, h.score) for h in col.search(records[7]["vector"], k=5)]
            assert [a[0] for a in after] == [b[0] for b in before]
            np.testing.assert_allclose([a[1] for a in after], [b[1] for b in before], atol=TOLERANCE)
            assert col.get(["r5"])[0].metadata == records[5]["metadata"]
        finally:
            store.drop_collection(name)
            store.close()


#: Texts of the lexical cases: each rare term is in exactly the records named in LEXICAL_TERMS.
LEXICAL_TEXTS = {
    "g0": "BRCA1 mutations raise the risk of breast cancer",
    "g1": "Ibuprofen dosage for children with fever",
    "g2": "Ibuprofen and aspirin both inhibit cyclooxygenase",
    "g3": "Vitamin D levels in elderly patients",
    "g4": "Zebrafish regenerate their heart muscle",
    "g5": "Tuberculosis treatment lasts six months",
    "g6": "Aspirin lowers the risk of stroke in adults",
    "g7": "Photosynthesis converts light into chemical energy",
}
LEXICAL_TERMS = {"brca1": ["g0"], "zebrafish": ["g4"], "ibuprofen": ["g1", "g2"], "tuberculosis": ["g5"]}


class LexicalTests(StoreFixtures):
    """Lexical and hybrid search (``mode=``); a backend without a lexical side must refuse both
    with :class:`UnsupportedOperationError` naming the backend."""

    @pytest.fixture
    def lexical(self, store: vecstore.VectorStore, new_collection: Any) -> tuple[vecstore.Collection, list[dict[str, Any]]]:
        records = make_records(len(LEXICAL_TEXTS) + 40, 8, seed=11)
        ids = list(LEXICAL_TEXTS)
        for i, rec in enumerate(records):
            if i < len(ids):
                rec["id"], rec["text"] = ids[i], LEXICAL_TEXTS[ids[i]]
            else:
                rec["text"] = f"filler note number {i} on general matters"
        records[-1]["text"] = None  # a record without text is never a lexical hit
        col = new_collection(dim=8)
        if store.lexical_analyzers:
            col.upsert(records)
        return col, records

    def _refused(self, store: vecstore.VectorStore, col: vecstore.Collection) -> bool:
        """On a backend without a lexical side: check the refusals and say so."""
        if store.lexical_analyzers:
            return False
        for call in (lambda: col.search(text="brca1", mode="lexical"),
                     lambda: col.search(np.ones(8), text="brca1", mode="hybrid"),
                     lambda: col.search_batch(texts=["brca1"], mode="lexical")):
            with pytest.raises(UnsupportedOperationError, match=store.backend):
                call()
        with pytest.raises(UnsupportedOperationError, match=store.backend):
            store.collection(f"vs-{uuid.uuid4().hex[:12]}", dim=8, lexical="english")
        return True

    def test_exact_term_finds_the_record_holding_it(self, store: vecstore.VectorStore, lexical: Any) -> None:
        col, records = lexical
        if self._refused(store, col):
            return
        for term, holders in LEXICAL_TERMS.items():
            for query in (term, term.upper(), f"what about {term}?"):
                hits = col.search(text=query, mode="lexical", k=5)
                assert sorted(h.id for h in hits) == sorted(holders), (query, [h.id for h in hits])
                assert all(h.score > 0 for h in hits)
                assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        by_id = {r["id"]: r for r in records}
        hit = col.search(text="zebrafish heart", mode="lexical", k=1, include_vectors=True)[0]
        assert (hit.id, hit.text, hit.metadata) == ("g4", by_id["g4"]["text"], by_id["g4"]["metadata"])
        np.testing.assert_allclose(hit.vector, by_id["g4"]["vector"] / np.linalg.norm(by_id["g4"]["vector"]),
                                   atol=TOLERANCE)

    def test_no_shared_term_no_hit(self, store: vecstore.VectorStore, lexical: Any) -> None:
        col, _ = lexical
        if self._refused(store, col):
            return
        assert col.search(text="quasar nebula", mode="lexical") == []
        assert col.search(text="", mode="lexical") == []
        assert col.search_batch(texts=["brca1", "quasar"], mode="lexical", k=3)[1] == []
        assert [h.id for h in col.search_batch(texts=["brca1", "quasar"], mode="lexical", k=3)[0]] == ["g0"]

    def test_filters_apply_to_both_sides(self, store: vecstore.VectorStore, lexical: Any) -> None:
        col, records = lexical
        if self._refused(store, col):
            return
        by_id = {r["id"]: r for r in records}
        flt = {"lang": by_id["g2"]["metadata"]["lang"]}
        assert by_id["g1"]["metadata"]["lang"] != flt["lang"]
        assert [h.id for h in col.search(text="ibuprofen", mode="lexical", filter=flt)] == ["g2"]
        matching = [r["id"] for r in records if r["metadata"]["lang"] == flt["lang"]]
        hybrid = col.search(by_id["g1"]["vector"], text="ibuprofen", mode="hybrid", k=10, filter=flt)
        assert len(hybrid) == 10 and {h.id for h in hybrid} <= set(matching)
        assert "g1" not in {h.id for h in hybrid} and "g2" in {h.id for h in hybrid}

    def test_hybrid_returns_k_under_a_filter(self, store: vecstore.VectorStore, lexical: Any) -> None:
        col, records = lexical
        if self._refused(store, col):
            return
        flt = {"bucket": {"$lt": 20}}
        matching = {r["id"] for r in records if r["metadata"]["bucket"] < 20}
        for k in (3, len(matching), len(matching) + 5):
            hits = col.search(records[0]["vector"], text="aspirin risk", mode="hybrid", k=k, filter=flt)
            assert len(hits) == min(k, len(matching)) and {h.id for h in hits} <= matching
            assert len({h.id for h in hits}) == len(hits)

    def test_hybrid_is_the_fusion_of_both_rankings(self, store: vecstore.VectorStore, lexical: Any) -> None:
        col, records = lexical
        if self._refused(store, col):
            return
        from vecstore.lexical import fuse

        query = records[3]["vector"]
        for kwargs in ({}, {"rrf_k": 10}, {"alpha": 0.3}):
            hybrid = col.search(query, text="aspirin ibuprofen risk", mode="hybrid", k=6, candidates=20, **kwargs)
            dense = col.search(query, k=20)
            lex = col.search(text="aspirin ibuprofen risk", mode="lexical", k=20)
            expected = fuse(dense, lex, 40, kwargs.get("rrf_k", 60), kwargs.get("alpha"))
            # engines that fuse natively (Qdrant, Milvus) may order records of equal score otherwise
            score_of = {h.id: s for h, s in expected}
            np.testing.assert_allclose([h.score for h in hybrid], [s for _, s in expected[:6]], rtol=1e-5)
            np.testing.assert_allclose([h.score for h in hybrid], [score_of[h.id] for h in hybrid], rtol=1e-5)
            assert {h.id for h in lex[:3]} & {h.id for h in hybrid}

    def test_writes_show_in_lexical_search(self, store: vecstore.VectorStore, lexical: Any) -> None:
        col, records = lexical
        if self._refused(store, col):
            return
        before = [(h.id, round(h.score, 4)) for h in col.search(text="aspirin ibuprofen", mode="lexical", k=10)]
        col.upsert(records)  # re-ingesting the same records changes nothing
        after = [(h.id, round(h.score, 4)) for h in col.search(text="aspirin ibuprofen", mode="lexical", k=10)]
        assert after == before
        col.upsert([{**records[4], "text": "Axolotls regrow limbs"}])  # g4: zebrafish -> axolotls
        assert col.search(text="zebrafish", mode="lexical") == []
        assert [h.id for h in col.search(text="axolotls", mode="lexical")] == ["g4"]
        col.delete(["g0"])
        assert col.search(text="brca1", mode="lexical") == []

    def test_collection_without_lexical_index_refuses(self, store: vecstore.VectorStore, new_collection: Any) -> None:
        if not store.lexical_analyzers:
            with pytest.raises(UnsupportedOperationError, match=store.backend):
                new_collection(dim=2, lexical=True)
            return
        col = new_collection(dim=2, lexical=False)
        col.upsert([{"id": "a", "vector": [1, 0], "text": "brca1"}])
        with pytest.raises(UnsupportedOperationError, match="no lexical index"):
            col.search(text="brca1", mode="lexical")
        assert [h.id for h in col.search([1, 0])] == ["a"]
        with pytest.raises(ConfigError, match="analyzer"):
            new_collection(dim=2, lexical="klingon")

    def test_bad_mode_inputs(self, store: vecstore.VectorStore, lexical: Any) -> None:
        col, _ = lexical
        q = np.ones(8)
        for kwargs in ({"mode": "fuzzy", "text": "a"}, {"mode": "lexical", "text": "a", "vector": q},
                       {"mode": "hybrid", "text": "a"}, {"mode": "hybrid", "vector": q},
                       {"mode": "dense", "text": "a", "vector": q}, {"mode": "lexical"},
                       {"mode": "hybrid", "text": "a", "vector": q, "alpha": 1.5},
                       {"mode": "hybrid", "text": "a", "vector": q, "rrf_k": -1},
                       {"mode": "lexical", "text": 5}, {"mode": "lexical", "text": "a\x00b"},
                       {"mode": "hybrid", "text": "a", "vector": q, "rrf_k": float("inf")},
                       {"mode": "lexical", "text": "a", "alpha": 0.5}, {"vector": q, "alpha": 0.5},
                       {"vector": q, "candidates": 5}, {"mode": "lexical", "text": "a", "k": 0}):
            with pytest.raises(InvalidInputError):
                col.search(**kwargs)


class ConformanceSuite(CrudTests, FilterTests, ScoreTests, BadInputTests, ScaleTests, PersistenceTests, LexicalTests):
    """Everything above; subclass it in a backend's test module."""
