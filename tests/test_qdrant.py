"""The conformance suite on Qdrant: qdrant-client's local mode (memory and
disk), Qdrant Edge (Qdrant's Rust engine in process), and a real Qdrant server
where one is reachable."""

from __future__ import annotations

import random
import threading
import time

import numpy as np
import pytest

import vecstore
from vecstore import filters
from vecstore.testing.conformance import ODD_IDS, ConformanceSuite

pytest.importorskip("qdrant_client", reason="qdrant-client is not installed: pip install 'vecstore[qdrant]'")


class TestQdrantMemory(ConformanceSuite):
    @pytest.fixture
    def store_factory(self):
        return lambda: vecstore.connect("qdrant://")


class TestQdrantPath(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"qdrant://{tmp_path}/qdrant")


def test_second_local_client_on_same_directory_is_refused(tmp_path):
    with vecstore.connect(f"qdrant://{tmp_path}/q") as store:
        store.list_collections()
        with pytest.raises(vecstore.StoreLockedError, match="one per directory"):
            vecstore.connect(f"qdrant://{tmp_path}/q").list_collections()


def test_original_ids_are_kept_in_payload():
    with vecstore.connect("qdrant://") as store:
        col = store.collection("ids", dim=2)
        col.upsert(ids=ODD_IDS, vectors=[[1.0, float(i + 1)] for i in range(len(ODD_IDS))])
        assert sorted(r.id for batch in col.iterate() for r in batch) == sorted(ODD_IDS)


def test_unreachable_server_raises_unavailable_quickly():
    start = time.monotonic()
    with pytest.raises(vecstore.BackendUnavailableError, match="qdrant://127.0.0.1:1"):
        vecstore.connect("qdrant://127.0.0.1:1").collection("x", dim=4)
    assert time.monotonic() - start < 10


@pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")
def test_api_key_is_not_in_errors():
    with pytest.raises(vecstore.BackendUnavailableError) as err:
        vecstore.connect("qdrant://127.0.0.1:1", api_key="s3cret-key", timeout=2).list_collections()
    assert "s3cret-key" not in str(err.value)


# -- shared by local mode and Edge ----------------------------------------------------

LOCAL_KINDS = ["memory", "path", "edge"]


def _connect(kind, tmp_path):
    if kind == "edge":
        pytest.importorskip("qdrant_edge", reason="qdrant-edge-py is not installed")
        return vecstore.connect(f"qdrant-edge://{tmp_path}/edge")
    return vecstore.connect("qdrant://" if kind == "memory" else f"qdrant://{tmp_path}/q")


def _check_filters(col, records, filter_list):
    """Every read path agrees with :func:`vecstore.filters.matches`, the reference semantics."""
    for f in filter_list:
        node = filters.parse(f)
        want = sorted(r["id"] for r in records if filters.matches(node, r["metadata"]))
        assert sorted(r.id for b in col.iterate(filter=f, include_vectors=False) for r in b) == want, f
        assert col.count(filter=f) == len(want), f
        assert sorted(h.id for h in col.search([1.0, 0.5], k=len(records), filter=f)) == want, f


def _hammer(col, seconds):
    """One writer upserting batches, three threads searching, counting and getting."""
    errors, written, stop = [], [], threading.Event()

    def guarded(step):
        while not stop.is_set():
            try:
                step()
            except Exception as exc:  # every error counts
                errors.append(exc)

    rng = np.random.default_rng(0)

    def write():
        ids = [f"r{len(written) + j}" for j in range(16)]
        col.upsert(ids=ids, vectors=rng.normal(size=(16, 8)), metadata=[{"n": len(written) + j} for j in range(16)])
        written.extend(ids)

    steps = [write, lambda: col.search(np.ones(8), k=5, filter={"n": {"$gte": 3}}), col.count,
             lambda: col.get(["r1", "r17", "r40"])]
    threads = [threading.Thread(target=guarded, args=(step,)) for step in steps]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    return errors, written


@pytest.mark.parametrize("kind", LOCAL_KINDS)
def test_one_store_is_safe_to_share_between_threads(kind, tmp_path):
    """Issue 13 item 12: local mode is not thread-safe (4,791 errors in 8 s); the adapter
    serialises its calls.  Edge is thread-safe on its own: checked the same way."""
    with _connect(kind, tmp_path) as store:
        col = store.collection("threads", dim=8)
        errors, written = _hammer(col, 2.0)
        assert errors == []
        assert written
        assert col.count() == len(written)
        assert {r.id for r in col.get(written, include_vectors=False)} == set(written)


METADATA_KEYS = [
    "a-b", "_x", "A_1", "x-", "_-", "_", "__", "a0", "a-0", "_0", "e5", "a" * 64, "Z" + "-" * 63,
    # words of Qdrant's payload, filter and path vocabulary
    "id", "text", "metadata", "bools", "key", "must", "should", "must_not", "null", "true", "false",
    "NaN", "inf", "values_count", "is_empty", "is_null", "has_id", "nested", "match", "range",
]


def _key_records():
    rng = random.Random(0)
    values = [1, 2, 2.5, 3.0, -1, "s", "t", True, False]
    return [
        {"id": f"r{i}", "vector": [1.0, i + 1.0], "metadata": {k: rng.choice(values) for k in rng.sample(METADATA_KEYS, 10)}}
        for i in range(80)
    ]


def _key_filters(key):
    return [
        {key: 2}, {key: 3.0}, {key: "s"}, {key: True}, {key: {"$in": [1, "t", False]}}, {key: {"$in": ["s", "t"]}},
        {key: {"$ne": 2}}, {key: {"$ne": False}}, {key: {"$nin": ["s", 3]}}, {key: {"$gt": 2}},
        {key: {"$lte": 2.5}}, {"$not": {key: {"$gte": 2}}},
    ]


@pytest.mark.parametrize("kind", LOCAL_KINDS)
def test_every_portable_metadata_key_filters_correctly(kind, tmp_path):
    """Issue 13 item 9: every key the metadata key rule accepts is a plain key in
    Qdrant's JSON path syntax: $eq, $in, $ne, $nin and ranges match the reference."""
    records = _key_records()
    assert all(vecstore.types.is_metadata_key(k) for k in METADATA_KEYS)
    with _connect(kind, tmp_path) as store:
        col = store.collection("keys", dim=2)
        col.upsert(records)
        _check_filters(col, records, [f for key in METADATA_KEYS for f in _key_filters(key)])


def test_edge_payload_indexes_on_portable_keys(tmp_path):
    """Issue 13 item 9: filters on indexed fields with odd (accepted) keys match the reference."""
    records = _key_records()
    indexes = {"a-b": "keyword", "_x": "float", "a" * 64: "float", "x-": "bool", "must": "keyword"}
    with _connect("edge", tmp_path) as store:
        col = store.collection("keys", dim=2, payload_indexes=indexes)
        col.upsert(records)
        _check_filters(col, records, [f for key in indexes for f in _key_filters(key)])


@pytest.mark.parametrize("kind", ["memory", "edge"])
@pytest.mark.parametrize("indexes", [{"a b": "keyword"}, {"a[0]": "keyword"}, {"x": "text"}, ["x"]])
def test_payload_indexes_are_checked_before_creating(kind, indexes, tmp_path):
    """Issue 13 item 9: payload_indexes fields follow the key rule (``a[0]`` indexed
    another path); a bad option creates nothing."""
    with _connect(kind, tmp_path) as store:
        with pytest.raises(vecstore.ConfigError, match="payload_indexes"):
            store.collection("c", dim=2, payload_indexes=indexes)
        assert store.list_collections() == []
        store.collection("c", dim=2)


BIG = 2**53 - 1


@pytest.mark.parametrize("kind", LOCAL_KINDS)
def test_integers_near_the_safe_limit_and_mixed_numbers_compare_exactly(kind, tmp_path):
    """Issue 13 item 8: ints near ±(2**53 - 1) and int/float comparisons are exact."""
    values = {"big": BIG, "big-1": BIG - 1, "neg": -BIG, "neg+1": -BIG + 1, "three": 3, "three.0": 3.0,
              "two": 2, "two.5": 2.5, "bool": True}
    records = [{"id": i, "vector": [1.0, n + 1.0], "metadata": {"n": v}} for n, (i, v) in enumerate(values.items())]
    cases = {
        "n": {"big"}, "$in": {"big", "three", "three.0"}, "$gt": {"big"}, "$lt": {"neg"},
        "$gte": {"big", "big-1"}, "$lte": {"neg", "neg+1"}, "eq3.0": {"three", "three.0"}, "eq3": {"three", "three.0"},
        "gt2": {"two.5", "three", "three.0", "big", "big-1"}, "ne": set(values) - {"big"},
    }
    flist = {
        "n": {"n": BIG}, "$in": {"n": {"$in": [BIG, 3.0]}}, "$gt": {"n": {"$gt": BIG - 1}}, "$lt": {"n": {"$lt": -BIG + 1}},
        "$gte": {"n": {"$gte": BIG - 1}}, "$lte": {"n": {"$lte": -BIG + 1}}, "eq3.0": {"n": 3.0}, "eq3": {"n": 3},
        "gt2": {"n": {"$gt": 2}}, "ne": {"n": {"$ne": BIG}},
    }
    with _connect(kind, tmp_path) as store:
        col = store.collection("nums", dim=2)
        col.upsert(records)
        for name, f in flist.items():
            assert {r.id for b in col.iterate(filter=f) for r in b} == cases[name], f
        _check_filters(col, records, list(flist.values()))
        assert col.get(["big", "neg"])[0].metadata["n"] == BIG and col.get(["neg"])[0].metadata["n"] == -BIG


pytest.importorskip("qdrant_edge", reason="qdrant-edge-py is not installed: pip install 'vecstore[qdrant]'")


class TestQdrantEdge(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"qdrant-edge://{tmp_path}/edge")


def test_edge_floats_are_exact_with_payload_indexes(tmp_path):
    """Issue 13 (found by the differential suite): Qdrant's engine read one float in ten back
    one ulp off; floats now live as integer key halves, indexed when the field is."""
    from vecstore.testing.adversarial import check_floats_bit_exact

    with _connect("edge", tmp_path) as store:
        check_floats_bit_exact(store.collection("idx", dim=4, metric="l2", payload_indexes={"c": "float"}))
        check_floats_bit_exact(store.collection("int-idx", dim=4, metric="l2", payload_indexes={"c": "integer"}))


_MAKE_OLD = """
import os, sys, vecstore
with vecstore.connect(sys.argv[1]) as store:
    store.collection("old", dim=2)
os.remove(os.path.join(sys.argv[2], "old", "exact-floats"))  # as a collection made before exact floats
with vecstore.connect(sys.argv[1]) as store:
    store.collection("old").upsert(
        [{"id": str(i), "vector": [1.0, float(i)], "metadata": {"n": v}} for i, v in enumerate([0.5, 1, 1.5, 2.0, "x"])])
"""


def test_edge_collection_from_before_exact_floats_keeps_working(tmp_path):
    """A collection written before floats became key halves (no marker file, floats under
    ``metadata``) is still read and filtered with the old layout, in a new process."""
    import os
    import subprocess
    import sys

    url = f"qdrant-edge://{tmp_path}/edge"
    subprocess.run([sys.executable, "-c", _MAKE_OLD, url, f"{tmp_path}/edge"], check=True, timeout=120)
    with vecstore.connect(url) as store:
        col = store.collection("old")
        assert {r.id: r.metadata["n"] for b in col.iterate() for r in b} == {"0": 0.5, "1": 1, "2": 1.5, "3": 2.0, "4": "x"}
        assert not os.path.exists(f"{tmp_path}/edge/old/exact-floats")
        assert {r.id for b in col.iterate(filter={"n": {"$gt": 1}}) for r in b} == {"2", "3"}
        assert col.count({"n": 2}) == 1 and col.count({"n": {"$in": [0.5, "x"]}}) == 2
        col.upsert([{"id": "5", "vector": [1.0, 5.0], "metadata": {"n": 2.5}}])
        assert col.count({"n": {"$gte": 2.5}}) == 1


def test_edge_builds_hnsw_on_optimize(tmp_path):
    import numpy as np

    vectors = np.random.default_rng(0).normal(size=(3000, 16)).astype(np.float32)
    with vecstore.connect(f"qdrant-edge://{tmp_path}/e") as store:
        col = store.collection("g", dim=16, index="hnsw", full_scan_threshold=10, indexing_threshold=10)
        col.upsert(ids=[str(i) for i in range(3000)], vectors=vectors)
        col.optimize()
        info = col._shard.info()
        assert info.indexed_vectors_count >= 3000
        assert col.search(vectors[5], k=1, ef_search=64)[0].id == "5"


def test_edge_second_client_is_refused(tmp_path):
    with vecstore.connect(f"qdrant-edge://{tmp_path}/e") as store:
        store.collection("c", dim=2)
        with pytest.raises(vecstore.StoreLockedError):
            vecstore.connect(f"qdrant-edge://{tmp_path}/e").collection("c")


def test_edge_threads_opening_one_collection_share_its_shard(tmp_path):
    """Issue 13 item 12: threads opening a collection at once on a fresh Edge store
    raced to load its shard, and the losers found it locked (StoreLockedError)."""
    with vecstore.connect(f"qdrant-edge://{tmp_path}/e") as store:
        store.collection("c", dim=2).upsert(ids=["a"], vectors=[[1.0, 0.0]])
    for _ in range(5):
        with vecstore.connect(f"qdrant-edge://{tmp_path}/e") as store:
            barrier, errors = threading.Barrier(4), []

            def open_and_count(store=store, barrier=barrier, errors=errors):
                barrier.wait()
                try:
                    assert store.collection("c").count() == 1
                except Exception as exc:
                    errors.append(exc)

            threads = [threading.Thread(target=open_and_count) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert errors == []


def test_edge_has_no_memory_mode():
    with pytest.raises(vecstore.UnsupportedModeError):
        vecstore.connect("qdrant-edge://")


@pytest.fixture(scope="module")
def qdrant_server(vecstore_url_for):
    """A real qdrant server: QDRANT_URL or a testcontainers one (vecstore's pytest plugin)."""
    return vecstore_url_for("qdrant", server=True)


@pytest.mark.integration
class TestQdrantServer(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, qdrant_server):
        return lambda: vecstore.connect(qdrant_server)
