"""The conformance suite on real Faiss, in memory and on disk, flat and HNSW."""

from __future__ import annotations

import numpy as np
import pytest

import vecstore
from vecstore.testing.conformance import ConformanceSuite

pytest.importorskip("faiss", reason="faiss-cpu is not installed: pip install 'vecstore[faiss]'")


class TestFaissMemory(ConformanceSuite):
    @pytest.fixture
    def store_factory(self):
        return lambda: vecstore.connect("faiss://")


class TestFaissPath(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"faiss://{tmp_path}/store")


class TestFaissHnswPath(ConformanceSuite):
    """The whole suite again with HNSW as every collection's index."""

    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"faiss://{tmp_path}/store")

    @pytest.fixture
    def collection_defaults(self):
        return {"index": "hnsw"}


class TestFaissIvfPath(ConformanceSuite):
    """The whole suite with IVF (nlist=4, so most collections train; nprobe=4 searches every list)."""

    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"faiss://{tmp_path}/store")

    @pytest.fixture
    def collection_defaults(self):
        return {"index": "ivf", "nlist": 4, "nprobe": 4}


@pytest.mark.parametrize("index", ["flat", "hnsw"])
def test_repeated_filter_sees_every_write_in_between(index: str) -> None:
    """A filtered search reuses the matching vectors while nothing is written; an overwrite or a
    delete in between must show in the next search with the same filter."""
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(500, 8)).astype(np.float32)
    with vecstore.connect("faiss://") as store:
        col = store.collection("rf", dim=8, index=index)
        col.upsert(ids=[f"r{i}" for i in range(500)], vectors=vectors, metadata=[{"cat": i % 10} for i in range(500)])
        target = rng.normal(size=8).astype(np.float32)
        first = col.search(target, k=3, filter={"cat": 3})
        assert col.search(target, k=3, filter={"cat": 3}) == first  # cached answer, same result
        col.upsert(ids=["r13"], vectors=[target], metadata=[{"cat": 3}])  # now the best match
        assert col.search(target, k=1, filter={"cat": 3})[0].id == "r13"
        col.delete(["r13"])
        assert "r13" not in [h.id for h in col.search(target, k=5, filter={"cat": 3})]
        col.upsert(ids=["new"], vectors=[target], metadata=[{"cat": 3}])
        assert col.search(target, k=1, filter={"cat": 3})[0].id == "new"
        assert col.search(target, k=1, filter={"cat": 3.0})[0].id == "new"  # 3.0 == 3: a number either way


def test_single_query_runs_on_one_openmp_thread_and_restores_the_setting():
    """A single query's Faiss search runs on one OpenMP thread (no parallel region for one
    vector), then the thread's setting is back; batch searches keep theirs; answers equal."""
    import faiss

    store = vecstore.connect("faiss://")
    col = store.collection("t", dim=8, metric="cosine")
    rng = np.random.default_rng(0)
    col.upsert(ids=[f"i{j}" for j in range(300)], vectors=rng.normal(size=(300, 8)).astype(np.float32))
    queries = rng.normal(size=(5, 8)).astype(np.float32)
    seen = []
    real_search = col._s.index.search

    def spy(*args, **kwargs):
        seen.append(faiss.omp_get_max_threads())
        return real_search(*args, **kwargs)

    col._s.index.search = spy
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        singles = [col.search(q, k=5) for q in queries]
        batch = col.search_batch(queries, k=5)
        assert faiss.omp_get_max_threads() == 2
    finally:
        faiss.omp_set_num_threads(before)
    assert seen == [1] * 5 + [2]
    assert [[h.id for h in hits] for hits in singles] == [[h.id for h in hits] for hits in batch]


def test_delete_counts_a_repeated_id_once():
    """delete() returns how many records existed: an id given twice is one record."""
    col = vecstore.connect("faiss://").collection("d", dim=2)
    col.upsert(ids=["a", "b"], vectors=[[1.0, 0.0], [0.0, 1.0]])
    assert [r.id for r in col.get(["a", "a", "b"])] == ["a", "b"]
    assert col.delete(["a", "a", "missing"]) == 1
    assert [r.id for r in col.get(["a", "b"])] == ["b"]
