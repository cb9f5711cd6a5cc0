"""Faiss at realistic size: exactness against numpy, HNSW recall, reopening
in a new process, crash safety of saves, and no pickle on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import vecstore
from vecstore.testing.conformance import reference_scores

pytest.importorskip("faiss", reason="faiss-cpu is not installed: pip install 'vecstore[faiss]'")

N, DIM, NQ = 20_000, 384, 100


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    queries = rng.normal(size=(NQ, DIM)).astype(np.float32)
    group = rng.integers(0, 10, N)  # the filter {"group": 3} keeps ~10 %
    return vectors, queries, group


@pytest.fixture(scope="module")
def clustered():
    """100 Gaussian clusters in 384-d, noise as large as the spread of the centres."""
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(100, DIM))
    vectors = centres[rng.integers(0, 100, N)] + rng.normal(size=(N, DIM))
    queries = centres[rng.integers(0, 100, NQ)] + rng.normal(size=(NQ, DIM))
    return vectors.astype(np.float32), queries.astype(np.float32)


@pytest.mark.parametrize("metric", ["cosine", "dot", "l2"])
@pytest.mark.parametrize("filtered", [False, True], ids=["all", "10pct"])
def test_exact_search_is_numpy_top10(data, metric, filtered):
    vectors, queries, group = data
    with vecstore.connect("faiss://") as store:
        col = store.collection("big", dim=DIM, metric=metric)
        col.upsert(ids=[str(i) for i in range(N)], vectors=vectors, metadata=[{"group": int(g)} for g in group])
        keep = np.flatnonzero(group == 3) if filtered else np.arange(N)
        ref = reference_scores(metric, queries, vectors[keep])
        results = col.search_batch(queries, k=10, exact=True, filter={"group": 3} if filtered else None)
        for qi, hits in enumerate(results):
            order = np.argsort(-ref[qi], kind="stable")[:10]
            assert [int(h.id) for h in hits] == keep[order].tolist()
            np.testing.assert_allclose([h.score for h in hits], ref[qi][order], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("metric", ["cosine", "l2"])
def test_hnsw_recall_on_clustered_data(clustered, metric):
    vectors, queries = clustered
    with vecstore.connect("faiss://") as store:
        col = store.collection("hnsw", dim=DIM, metric=metric, index="hnsw")
        col.upsert(ids=[str(i) for i in range(N)], vectors=vectors)
        ref = reference_scores(metric, queries, vectors)
        results = col.search_batch(queries, k=10)
        recall = np.mean([
            len({int(h.id) for h in hits} & set(np.argsort(-ref[qi])[:10].tolist())) / 10
            for qi, hits in enumerate(results)
        ])
        print(f"HNSW recall@10 ({metric}, m=32, ef_construction=200, ef_search=64): {recall:.4f}")
        assert recall >= 0.95


REOPEN = """
import json, sys, numpy as np, vecstore
with vecstore.connect(sys.argv[1]) as store:
    col = store.collection("c")
    q = np.asarray(json.loads(sys.argv[2]), dtype=np.float32)
    hits = col.search(q, k=5, filter={"group": 1})
    print(json.dumps({"count": col.count(), "hits": [[h.id, h.score] for h in hits], "info": col.info}))
"""


@pytest.mark.parametrize("index", ["flat", "hnsw", "ivf"])
def test_reopen_in_new_process_without_pickle(tmp_path, index):
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(3000, 32)).astype(np.float32)
    url = f"faiss://{tmp_path}/store"
    with vecstore.connect(url) as store:
        col = store.collection("c", dim=32, index=index, info={"model": "x"})
        col.upsert(ids=[f"d{i}" for i in range(3000)], vectors=vectors, metadata=[{"group": i % 3} for i in range(3000)])
        col.delete([f"d{i}" for i in range(0, 3000, 10)])
        query = vectors[5]
        before = [[h.id, h.score] for h in col.search(query, k=5, filter={"group": 1})]
        count = col.count()
    out = subprocess.run([sys.executable, "-c", REOPEN, url, json.dumps(query.tolist())],
                         capture_output=True, text=True, check=True)
    after = json.loads(out.stdout)
    assert after["count"] == count == 2700 and after["info"] == {"model": "x"}
    assert [h[0] for h in after["hits"]] == [h[0] for h in before]
    np.testing.assert_allclose([h[1] for h in after["hits"]], [h[1] for h in before], atol=1e-5)
    files = sorted(os.listdir(tmp_path / "store" / "c"))
    gen = _gen(tmp_path)
    assert files == sorted(["manifest.json", f"index-{gen}.faiss", f"records-{gen}.jsonl", f"wal-{gen}.log"])
    assert (tmp_path / "store" / "c" / f"wal-{gen}.log").stat().st_size == 0  # close() folded the log
    for path in (tmp_path / "store").rglob("*"):
        if path.is_file():
            head = path.read_bytes()[:2]
            assert head[:1] != b"\x80", f"{path} looks like a pickle"
            assert not path.name.endswith((".pkl", ".pickle"))


def _gen(tmp_path) -> int:
    return json.loads((tmp_path / "store" / "c" / "manifest.json").read_text())["generation"]


def test_ivf_trains_itself_and_deletes_for_real(clustered):
    vectors, queries = clustered
    with vecstore.connect("faiss://") as store:
        col = store.collection("ivf", dim=DIM, index="ivf", nlist=128)
        col.upsert(ids=[str(i) for i in range(4000)], vectors=vectors[:4000])
        assert not col._s.ivf  # 4,000 < 39 x 128: still flat, searched exactly
        col.upsert(ids=[str(i) for i in range(4000, N)], vectors=vectors[4000:])
        assert col._s.ivf and col._s.index.ntotal == N
        ref = reference_scores("cosine", queries, vectors)
        for nprobe, floor in ((4, 0.5), (32, 0.95)):
            results = col.search_batch(queries, k=10, nprobe=nprobe)
            recall = np.mean([len({int(h.id) for h in hits} & set(np.argsort(-ref[qi])[:10].tolist())) / 10
                              for qi, hits in enumerate(results)])
            print(f"IVF recall@10 (nlist=128, nprobe={nprobe}): {recall:.4f}")
            assert recall >= floor
        assert col.delete([str(i) for i in range(1000)]) == 1000
        assert col._s.index.ntotal == N - 1000 and col.count() == N - 1000


def test_crash_during_save_keeps_last_complete_generation(tmp_path, monkeypatch):
    from vecstore.adapters.faiss import persist

    url = f"faiss://{tmp_path}/s"
    with vecstore.connect(url) as store:
        store.collection("c", dim=4).upsert([{"id": "a", "vector": [1, 2, 3, 4]}])
    store = vecstore.connect(url)
    store.collection("c").upsert([{"id": "b", "vector": [4, 3, 2, 1]}])
    real = persist._write_json

    def crash(path, data):  # the process dies just before the manifest is replaced
        raise OSError("simulated crash")

    monkeypatch.setattr(persist, "_write_json", crash)
    with pytest.raises(vecstore.VecstoreError):
        store.close()
    monkeypatch.setattr(persist, "_write_json", real)
    with vecstore.connect(url) as again:
        col = again.collection("c")
        # the last complete generation holds "a"; its write-ahead log still holds "b"
        assert col.count() == 2 and [r.id for r in col.get(["a", "b"])] == ["a", "b"]
        col.upsert([{"id": "c", "vector": [1, 1, 1, 1]}])
    with vecstore.connect(url) as again:
        assert again.collection("c").count() == 3
    assert len(os.listdir(tmp_path / "s" / "c")) == 4  # manifest, index, records, log: leftovers cleaned up


def test_second_client_on_same_directory_is_refused(tmp_path):
    url = f"faiss://{tmp_path}/s"
    with vecstore.connect(url) as store:
        store.list_collections()
        with pytest.raises(vecstore.StoreLockedError):
            vecstore.connect(url).list_collections()
    with vecstore.connect(url) as store:  # released on close
        assert store.list_collections() == []


def test_concurrent_searches_and_writes(data):
    from concurrent.futures import ThreadPoolExecutor

    vectors, queries, _ = data
    with vecstore.connect("faiss://") as store:
        col = store.collection("t", dim=DIM, index="hnsw")
        col.upsert(ids=[str(i) for i in range(2000)], vectors=vectors[:2000])

        def write(i):
            col.upsert(ids=[f"w{i}-{j}" for j in range(50)], vectors=vectors[2000 + 50 * i: 2050 + 50 * i])

        def read(i):
            return len(col.search(queries[i % NQ], k=10))

        with ThreadPoolExecutor(4) as pool:
            writes = [pool.submit(write, i) for i in range(20)]
            reads = [pool.submit(read, i) for i in range(200)]
            assert all(f.result() == 10 for f in reads)
            for f in writes:
                f.result()
        assert col.count() == 3000
