"""The conformance suite on Chroma: in process (memory and disk) and a real `chroma run` server."""

from __future__ import annotations

import math
import subprocess
import sys
import time
import uuid

import numpy as np
import pytest

import vecstore
from vecstore.filters import matches, parse
from vecstore.testing.conformance import ConformanceSuite

pytest.importorskip("chromadb", reason="chromadb is not installed: pip install 'vecstore[chroma]'")

from vecstore.testing.servers import ChromaServer  # noqa: E402


@pytest.fixture(scope="module")
def chroma_server_url(vecstore_url_for):
    """CHROMA_URL, a testcontainers Chroma, or `chroma run` on a free port (vecstore's pytest plugin)."""
    return vecstore_url_for("chroma", server=True)


class TestChromaMemory(ConformanceSuite):
    @pytest.fixture
    def store_factory(self):
        return lambda: vecstore.connect("chroma://")


class TestChromaPath(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"chroma://{tmp_path}/chroma")


@pytest.mark.integration
class TestChromaServer(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, chroma_server_url):
        return lambda: vecstore.connect(chroma_server_url)


def test_memory_connections_are_isolated():
    with vecstore.connect("chroma://") as a, vecstore.connect("chroma://") as b:
        a.collection("only-in-a", dim=2)
        assert a.list_collections() == ["only-in-a"] and b.list_collections() == []


def test_short_names_are_mapped_reversibly():
    with vecstore.connect("chroma://") as store:
        for name in ("x", "ab", "ok-", "ok_"):
            store.collection(name, dim=2).upsert([{"id": "a", "vector": [1, 0]}])
        assert store.list_collections() == ["ab", "ok-", "ok_", "x"]
        assert store.collection("x").count() == 1


def test_type_tags_stay_internal():
    with vecstore.connect("chroma://") as store:
        col = store.collection("tags", dim=2)
        col.upsert([{"id": "a", "vector": [1, 0], "metadata": {"year": 2020}}])
        assert col.get(["a"])[0].metadata == {"year": 2020}
        assert col.search([1, 0], k=1)[0].metadata == {"year": 2020}


@pytest.mark.integration
def test_large_upsert_is_split_by_server_limit(chroma_server_url):
    with vecstore.connect(chroma_server_url) as store:
        col = store.collection("big", dim=8)
        limit = col.max_batch_size
        vectors = np.random.default_rng(0).normal(size=(50_000, 8)).astype(np.float32)
        calls = []
        assert col.upsert(ids=[str(i) for i in range(50_000)], vectors=vectors, progress=calls.append) == 50_000
        assert col.count() == 50_000
        assert len(calls) == -(-50_000 // limit) and max(calls) <= limit
        store.drop_collection("big")


@pytest.mark.integration
def test_stopped_server_raises_unavailable_quickly(tmp_path):
    server = ChromaServer(str(tmp_path / "data")).start()
    try:
        store = vecstore.connect(server.url, timeout=3)
        col = store.collection("c", dim=2)
        col.upsert([{"id": "a", "vector": [1, 0]}])
        server.stop()
        start = time.monotonic()
        with pytest.raises(vecstore.BackendUnavailableError) as err:
            col.search([1, 0], k=1)
        assert time.monotonic() - start < 10
        assert "127.0.0.1" in str(err.value) and "chroma" in str(err.value)
    finally:
        server.cleanup()


def test_unreachable_server_raises_unavailable():
    start = time.monotonic()
    with pytest.raises(vecstore.BackendUnavailableError, match="chroma://127.0.0.1:1"):
        vecstore.connect("chroma://127.0.0.1:1", timeout=2).collection("x", dim=4)
    assert time.monotonic() - start < 10


def test_token_is_not_in_errors():
    with pytest.raises(vecstore.BackendUnavailableError) as err:
        vecstore.connect("chroma://u:s3cret@127.0.0.1:1", timeout=2).list_collections()
    assert "s3cret" not in str(err.value)


# -- regressions from adversarial testing (issue 13) --------------------------------------

MODES = ["memory", "path", pytest.param("server", marks=pytest.mark.integration)]


@pytest.fixture(params=MODES)
def any_store(request, tmp_path):
    """A Chroma store in each mode: in memory, on disk, and a real server."""
    if request.param == "server":
        url = request.getfixturevalue("chroma_server_url")
    else:
        url = "chroma://" if request.param == "memory" else f"chroma://{tmp_path}/chroma"
    with vecstore.connect(url) as store:
        yield store


def _fresh(store, dim=2):
    name = f"t-{uuid.uuid4().hex[:12]}"
    return store.collection(name, dim=dim, metric="l2")


def _upsert_values(col, values, key="c"):
    """One record per value (``id -> value``; ``None``: no such field)."""
    col.upsert([
        {"id": id_, "vector": [1.0, float(i)], "metadata": {} if v is None else {key: v}}
        for i, (id_, v) in enumerate(values.items())
    ])


def _assert_filters_match_reference(col, values, filter_list, key="c", only=None):
    """Each filter selects exactly the records that ``vecstore.filters.matches`` selects,
    through count(), iterate() and search() (``only``: judge just these ids)."""
    only = set(values) if only is None else set(only)
    for f in filter_list:
        node = parse(f)
        want = {i for i, v in values.items() if i in only and matches(node, {} if v is None else {key: v})}
        got = {r.id for batch in col.iterate(filter=f) for r in batch} & only
        hits = {h.id for h in col.search([1.0, 0.0], k=len(values), filter=f)} & only
        assert (got, hits) == (want, want), f"filter {f}: got {sorted(got)} / search {sorted(hits)}, want {sorted(want)}"
        if only == set(values):
            assert col.count(f) == len(want), f


NUMBERS = {  # ints and floats as stored; plus other types and a record without the field
    "i0": 0, "i1": 1, "i2": 2, "f0.5": 0.5, "f2.0": 2.0, "i-1": -1, "f-0.5": -0.5, "f1.5": 1.5,
    "f1e-7": 1e-7, "imax": 2**53 - 1, "imin": -(2**53 - 1), "s1": "1", "bT": True, "bF": False, "none": None,
}
OPERANDS = [0.5, 1.5, 2.5, 1e-7, -0.5, -1.5, 2, 2.0, 0, 0.0, -1, 1e300, -1e300, 2**53 - 1, float(2**53), -(2**53 - 1)]
RANGES = ("$gt", "$gte", "$lt", "$lte")


def test_issue13_item6_fractional_operands_compare_exactly_with_ints(any_store):
    """issue 13 item 6: Chroma truncates a float operand compared with an int-stored value
    ({"c": 0.5} matched 0, $gte 1.5 matched 1, $lt 2.5 missed 2, {"c": 1e-7} matched 0)."""
    col = _fresh(any_store)
    _upsert_values(col, NUMBERS)
    named = [{"c": 0.5}, {"c": {"$gte": 1.5}}, {"c": {"$lt": 2.5}}, {"c": 1e-7}, {"c": {"$ne": 0.5}},
             {"c": {"$nin": [0.5, 1e-7]}}, {"c": {"$in": [0.5, 2.5]}}]
    _assert_filters_match_reference(col, NUMBERS, named)
    assert {r.id for b in col.iterate(filter={"c": 0.5}) for r in b} == {"f0.5"}
    assert {r.id for b in col.iterate(filter={"c": {"$lt": 2.5}}) for r in b} >= {"i2", "f2.0"}
    grid = [{"c": {op: v}} for op in ("$eq", "$ne", *RANGES) for v in OPERANDS]
    grid += [{"$not": {"c": {op: v}}} for op in RANGES for v in OPERANDS]
    _assert_filters_match_reference(col, NUMBERS, grid)


def test_issue13_item7_mixed_type_in_and_nin_lists(any_store):
    """issue 13 item 7: Chroma refused $in/$nin lists of mixed types (["1", 1], [1, 2.0],
    [1, True]) with a raw backend error; they follow matches(): True never equals 1, 1 equals
    1.0, and $nin matches records lacking the field."""
    col = _fresh(any_store)
    _upsert_values(col, NUMBERS)
    lists = [["1", 1], [1, 2.0], [1, True], [True, "1", 0.5, 2], [False, 0], [2.0, 2], ["x", "1"],
             [0.5, 1.5, -0.5], [1e300, -1], [True, False]]
    filter_list = [{"c": {op: lst}} for op in ("$in", "$nin") for lst in lists]
    filter_list += [{"$not": {"c": {"$in": lst}}} for lst in lists]
    filter_list += [{"$or": [{"c": {"$nin": [1, "1"]}}, {"c": {"$in": [0.5, True]}}]}]
    _assert_filters_match_reference(col, NUMBERS, filter_list)
    assert {r.id for b in col.iterate(filter={"c": {"$in": [1, True]}}) for r in b} == {"i1", "bT"}


def test_issue13_item6_collections_with_legacy_number_tags_keep_working(any_store):
    """issue 13 item 6: records written before ints and floats were tagged apart ("n") still
    filter as before (integral operands and mixed lists exactly), and records upserted since
    into such a collection compare exactly even with fractional operands."""
    from vecstore.adapters.chroma.store import TAGS_KEY, to_chroma_name

    col = _fresh(any_store)
    native_name = to_chroma_name(col.name)
    meta = {k: v for k, v in col._native.metadata.items() if k != TAGS_KEY}
    any_store._client.delete_collection(native_name)
    native = any_store._client.create_collection(native_name, embedding_function=None, metadata=meta)
    old = {f"old-{k}": v for k, v in NUMBERS.items()}
    native.upsert(  # as the previous adapter wrote them: every number tagged "n"
        ids=list(old),
        embeddings=[[1.0, float(i)] for i in range(len(old))],
        metadatas=[{"c": v, "c.vs_type": "n" if isinstance(v, (int, float)) and not isinstance(v, bool)
                    else ("b" if isinstance(v, bool) else "s")} if v is not None else None for v in old.values()],
    )
    col = any_store.collection(col.name)
    assert col._legacy_tags
    new = {f"new-{k}": v for k, v in NUMBERS.items()}
    _upsert_values(col, new)
    both = {**old, **new}
    integral = [{"c": {op: v}} for op in ("$eq", "$ne", *RANGES) for v in (2, 2.0, 0, -1, 1e300)]
    integral += [{"c": {op: [1, 2.0, True, "1"]}} for op in ("$in", "$nin")] + [{"$not": {"c": {"$gt": 0}}}]
    _assert_filters_match_reference(col, both, integral)
    fractional = [{"c": {op: v}} for op in ("$eq", "$ne", *RANGES) for v in (0.5, 1.5, 2.5, -0.5, 1e-7)]
    _assert_filters_match_reference(col, both, fractional, only=new)


def test_issue13_item6_new_collections_store_int_and_float_tags():
    """issue 13 item 6: new collections are marked, tag ints "i" and floats "d", and keep each
    float's bits as an ordered int64 beside it."""
    from vecstore.adapters.chroma.filters import NO_TEXT
    from vecstore.adapters.chroma.store import KEYS_SUFFIX, TAGS_KEY, TAGS_VERSION
    from vecstore.floatkey import float_key

    with vecstore.connect("chroma://") as store:
        col = store.collection("tagged", dim=2)
        col.upsert([{"id": "a", "vector": [1, 0], "metadata": {"i": 1, "f": 1.0, "s": "x", "b": True}}])
        assert col._native.metadata[TAGS_KEY] == TAGS_VERSION and not col._legacy_tags
        stored = col._native.get(ids=["a"], include=["metadatas"])["metadatas"][0]
        assert {k: v for k, v in stored.items() if "." in k} == {
            "i.vs_type": "i", "f.vs_type": "d", "s.vs_type": "s", "b.vs_type": "b", "f.vs_f64": float_key(1.0),
            NO_TEXT: True}
        assert sorted(store._client.get_collection("tagged" + KEYS_SUFFIX).get()["ids"]) == [".complete", "b", "f", "i", "s"]
        assert store.list_collections() == ["tagged"]
        assert col.get(["a"])[0].metadata == {"i": 1, "f": 1.0, "s": "x", "b": True}


def test_schema_fields_are_stored_without_tags():
    """A schema's fields are stored as Chroma's own client stores them (a float also with its
    key), and filters on them compile to one plain Chroma comparison; free fields keep their tags."""
    from vecstore import filters
    from vecstore.adapters.chroma.filters import NO_TEXT, compile_where
    from vecstore.floatkey import float_key

    with vecstore.connect("chroma://") as store:
        col = store.collection("typed", dim=2, schema={"i": "int", "f": "float", "s": "str", "b": "bool"})
        col.upsert([{"id": "a", "vector": [1, 0], "metadata": {"i": 1, "f": 1.0, "s": "x", "b": True, "free": 2}}])
        stored = col._native.get(ids=["a"], include=["metadatas"])["metadatas"][0]
        assert stored == {"i": 1, "f": 1.0, "s": "x", "b": True, "free": 2, "free.vs_type": "i",
                          "f.vs_f64": float_key(1.0), NO_TEXT: True}
        assert col.get(["a"])[0].metadata == {"i": 1, "f": 1.0, "s": "x", "b": True, "free": 2}
        schema = col.schema
        assert compile_where(filters.parse({"$not": {"i": {"$gt": 2.5}}}), schema=schema) == {"i": {"$lte": 2}}
        assert compile_where(filters.parse({"f": {"$in": [1, 2.5]}}), schema=schema) == {
            "f.vs_f64": {"$in": [float_key(1.0), float_key(2.5)]}}
        assert compile_where(filters.parse({"s": {"$ne": "x"}}), schema=schema) == {"s": {"$ne": "x"}}
        # no int is 0.5: nothing matches, its negation everything
        assert col.count({"i": 0.5}) == 0 and col.count({"i": {"$ne": 0.5}}) == 1
        assert col.count({"b": 1}) == 0 and col.count({"$not": {"s": {"$gt": 0}}}) == 1


def test_issue13_floats_round_trip_and_compare_bit_exactly(any_store):
    """issue 13 (found by the differential suite): chromadb reads some floats back one ulp off
    and its $eq matches floats one ulp apart (stored 2**53 - 2.0 equalled 2**53 - 1).  Floats
    now come back bit for bit and compare exactly, neighbours one ulp apart included."""
    rng = np.random.default_rng(13)
    floats = [float(x) for x in rng.normal(scale=1e3, size=150)] + [float(x) for x in rng.uniform(-1, 1, 150)]
    floats += [9007199254740990.0, 0.1, 1e-300, -1e300, 5e-324, 1.7976931348623157e308]
    values = {}
    for i, x in enumerate(floats):
        values[f"a{i}"] = x
        up = math.nextafter(x, math.inf)
        values[f"b{i}"] = up if math.isfinite(up) else math.nextafter(x, 0.0)
    col = _fresh(any_store)
    _upsert_values(col, values)
    back = {r.id: r.metadata["c"] for batch in col.iterate() for r in batch}
    wrong = {i: (back[i], v) for i, v in values.items() if back[i] != v or type(back[i]) is not float}
    assert not wrong, f"{len(wrong)} floats not read back exactly, e.g. {list(wrong.items())[:3]}"
    picks = [floats[i] for i in (0, 7, 151, 300, 301)] + [2**53 - 1, 9007199254740990.0]
    flts = [{"c": {op: v}} for op in ("$eq", "$ne", *RANGES) for v in picks]
    flts += [{"c": {"$in": [picks[0], math.nextafter(picks[1], math.inf)]}}]
    _assert_filters_match_reference(col, values, flts)


def test_issue13_item6_where_compiles_per_stored_type():
    """issue 13 item 6: the int branch gets an exactly converted int operand, the float branch
    compares float keys."""
    from vecstore.adapters.chroma.filters import compile_where
    from vecstore.floatkey import float_key

    # the int branch: the value test first, then "not tagged as anything but an int" (a clause
    # that matches few records: Chroma's cost grows with the records each clause matches);
    # the float branch needs no tag, only float records carry a float key
    assert compile_where(parse({"c": {"$gte": 1.5}})) == {"$or": [
        {"$and": [{"c": {"$gte": 2}}, {"c.vs_type": {"$nin": ["d", "s", "b", "n", "f"]}}]},
        {"c.vs_f64": {"$gte": float_key(1.5)}},
    ]}
    assert compile_where(parse({"c": 0.5})) == {"c.vs_f64": {"$eq": float_key(0.5)}}
    assert compile_where(parse({"c": {"$ne": 0.5}})) == {"$or": [{"c.vs_type": {"$ne": "d"}},
                                                                 {"c.vs_f64": {"$ne": float_key(0.5)}}]}
    assert compile_where(parse({"c": {"$lt": 1e300}}))["$or"][0] == {"c.vs_type": {"$eq": "i"}}


# -- issue 13 item 13: one process per Chroma directory ----------------------------------

_HOLD = """
import sys, time, vecstore
store = vecstore.connect(sys.argv[1])
try:
    store.collection("held", dim=2).upsert([{"id": "a", "vector": [1, 0]}])
except vecstore.StoreLockedError as exc:
    print("LOCKED", exc, flush=True)
    sys.exit(3)
print("READY", flush=True)
time.sleep(float(sys.argv[2]))
store.close()
"""


def _hold(url, seconds):
    return subprocess.Popen([sys.executable, "-c", _HOLD, url, str(seconds)], stdout=subprocess.PIPE, text=True)


def test_issue13_item13_second_process_on_a_directory_is_refused(tmp_path):
    """issue 13 item 13: two processes writing one chroma:///dir corrupt its HNSW files
    (measured: hundreds of vectors lost or unreadable), so a directory is locked per process."""
    url = f"chroma://{tmp_path}/db"
    holder = _hold(url, 60)
    try:
        assert holder.stdout.readline().strip() == "READY"
        with pytest.raises(vecstore.StoreLockedError, match="another process"):
            vecstore.connect(url).list_collections()
        second = _hold(url, 0)
        assert second.wait(60) == 3 and second.stdout.read().startswith("LOCKED")
    finally:
        holder.kill()
        holder.wait()
    # the holder's death released the lock
    with vecstore.connect(url) as store:
        assert store.collection("held").count() == 1


def test_issue13_item13_connections_in_one_process_share_the_lock(tmp_path):
    """issue 13 item 13: connections in one process share Chroma's system, so they share the
    lock; the last close() releases it for other processes."""
    url = f"chroma://{tmp_path}/db"
    a, b = vecstore.connect(url), vecstore.connect(url)
    a.collection("shared", dim=2).upsert([{"id": "a", "vector": [1, 0]}])
    assert b.collection("shared").count() == 1
    a.close()
    b.collection("shared").upsert([{"id": "b", "vector": [0, 1]}])
    other = _hold(url, 0)
    assert other.wait(60) == 3
    b.close()
    other = _hold(url, 0)
    assert other.stdout.readline().strip() == "READY" and other.wait(60) == 0
    with vecstore.connect(url) as store:
        assert store.collection("shared").count() == 2 and store.collection("held").count() == 1


def test_overwrite_replaces_metadata_in_a_collection_without_key_registry(any_store):
    """Chroma merges metadata on upsert; vecstore nulls the keys a record no longer has, from the
    collection's key registry.  A collection written before the registry existed gets one from
    its records' metadata on the first write, so an overwrite there replaces the record too."""
    from vecstore.adapters.chroma.store import KEYS_SUFFIX, to_chroma_name

    col = _fresh(any_store)
    col.upsert([{"id": "a", "vector": [1, 0], "text": "t", "metadata": {"c": 0.5, "d": 1}},
                {"id": "b", "vector": [0, 1], "metadata": {"e": "x"}}])
    any_store._client.delete_collection(to_chroma_name(col.name) + KEYS_SUFFIX)  # as an older vecstore left it
    col = any_store.collection(col.name)
    col.upsert([{"id": "a", "vector": [1, 0], "metadata": {"c": 3}}])
    assert col.get(["a"])[0].metadata == {"c": 3} and col.get(["a"])[0].text is None
    assert col.count({"d": 1}) == 0 and col.count({"c": 0.5}) == 0 and col.count({"e": "x"}) == 1
    registry = any_store._client.get_collection(to_chroma_name(col.name) + KEYS_SUFFIX)
    assert sorted(registry.get()["ids"]) == [".complete", "c", "d", "e"]
    # a registration cut short (no ".complete") is redone from the records on the next write
    registry.delete(ids=[".complete", "c", "d", "e"])
    col = any_store.collection(col.name)
    col.upsert([{"id": "b", "vector": [0, 1], "metadata": {"f": 1}}])
    assert col.get(["b"])[0].metadata == {"f": 1} and col.count({"e": "x"}) == 0
    assert sorted(registry.get()["ids"]) == [".complete", "c", "e", "f"]
    assert any_store.drop_collection(col.name) and col.name not in any_store.list_collections()
    assert to_chroma_name(col.name) + KEYS_SUFFIX not in [c.name for c in any_store._client.list_collections()]


def test_a_foreign_collection_named_like_a_key_registry_is_neither_used_nor_dropped(any_store):
    from vecstore.adapters.chroma.store import KEYS_SUFFIX, to_chroma_name
    from vecstore.errors import ConfigError

    col = _fresh(any_store)
    keys_name = to_chroma_name(col.name) + KEYS_SUFFIX
    any_store._client.delete_collection(keys_name)
    any_store._client.create_collection(keys_name, embedding_function=None, metadata={"owner": "someone else"})
    col = any_store.collection(col.name)
    with pytest.raises(ConfigError, match="not vecstore's key registry"):
        col.upsert([{"id": "a", "vector": [1, 0]}])
    assert col.count() == 0
    assert any_store.drop_collection(col.name)
    assert keys_name in [c.name for c in any_store._client.list_collections()]
    any_store._client.delete_collection(keys_name)
