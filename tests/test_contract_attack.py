"""Regression tests for issue 13, "the contract under attack": each test names the
item it covers.  Items checked in the base class (validation, normalisation,
scores) run on every local backend; items of one adapter live in that adapter's
test file (Milvus 2, 3, 10, 13; Chroma 6, 7, 13; Qdrant 8, 9, 12) and here
where the fix is in the core."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import vecstore
from vecstore.errors import FilterError, InvalidInputError

LOCAL = {
    "faiss-memory": "faiss://",
    "chroma-memory": "chroma://",
    "qdrant-memory": "qdrant://",
    "qdrant-edge": "qdrant-edge://{tmp}/edge",
    "milvus-lite": "milvus://",
    "pgvector": "pgvector://{tmp}/pg",
}


@pytest.fixture(params=list(LOCAL))
def store(request, tmp_path):
    url = LOCAL[request.param].format(tmp=tmp_path)
    scheme = url.split(":", 1)[0]
    pytest.importorskip({"faiss": "faiss", "chroma": "chromadb", "qdrant": "qdrant_client",
                         "qdrant-edge": "qdrant_edge", "milvus": "milvus_lite",
                         "pgvector": "psycopg"}[scheme])
    with vecstore.connect(url) as s:
        yield s


HOSTILE = {"lone surrogate": "bad\ud800", "NUL": "nul\x00byte"}


@pytest.mark.parametrize("what", list(HOSTILE))
def test_item4_invalid_unicode_and_nul_are_refused_everywhere(store, what):
    """Item 4: a lone surrogate (or NUL) is refused at validation, nothing is written."""
    bad = HOSTILE[what]
    col = store.collection("c", dim=2)
    good = {"id": "ok", "vector": [1, 0]}
    for record in ({"id": bad, "vector": [1, 0]}, {"id": "a", "vector": [1, 0], "text": bad},
                   {"id": "a", "vector": [1, 0], "metadata": {"k": bad}}):
        with pytest.raises(InvalidInputError, match="Unicode|NUL"):
            col.upsert([good, record])
    with pytest.raises(InvalidInputError):
        col.get([bad])
    with pytest.raises(InvalidInputError):
        col.delete([bad])
    with pytest.raises(FilterError):
        col.count({"k": bad})
    with pytest.raises(FilterError):
        col.count({"k": {"$in": ["x", bad]}})
    assert col.count() == 0
    col.upsert([good])
    assert [r.id for r in col.get(["ok"])] == ["ok"]


BAD_KEYS = ['a"b', "a\\b", "a\nb", "a b", "#x", "a:b", "a[]", "a[0]", "a*", "a@b", "$x", "a$",
            "chroma:document", "#document", "1abc", "", "x" * 65, "ü", "a.b", "a\ud800"]
GOOD_KEYS = ["a-b", "_x", "A_1", "x-", "k" * 64, "a0", "_", "Z--9"]


def test_item9_metadata_keys_outside_the_portable_rule_are_refused(store):
    """Item 9: a key outside the portable rule is refused before any write, and in filters."""
    col = store.collection("c", dim=2)
    for key in BAD_KEYS:
        with pytest.raises(InvalidInputError, match="metadata key"):
            col.upsert([{"id": "a", "vector": [1, 0]}, {"id": "b", "vector": [0, 1], "metadata": {key: 1}}])
        with pytest.raises(FilterError, match="field name|operator"):
            col.count({key: 1})
    assert col.count() == 0


def test_item9_every_accepted_key_filters_correctly(store):
    """Item 9: every key the rule accepts is stored and filtered exactly, on every backend."""
    col = store.collection("c", dim=2)
    records = [{"id": f"r{i}", "vector": [1, i + 1], "metadata": {key: i for key in GOOD_KEYS[: i + 1]}}
               for i in range(len(GOOD_KEYS))]
    col.upsert(records)
    for j, key in enumerate(GOOD_KEYS):
        want = {f"r{i}" for i in range(len(GOOD_KEYS)) if i >= j and i == j}
        assert {h.id for h in col.search([1, 1], k=20, filter={key: j})} == want, key
        assert col.count({key: {"$gte": 0}}) == len(GOOD_KEYS) - j, key
        assert col.count({key: {"$ne": j}}) == len(GOOD_KEYS) - 1, key  # $ne matches records without the key
    assert col.get(["r7"])[0].metadata == records[7]["metadata"]


def test_item8_integers_beyond_2_53_are_refused_everywhere(store):
    """Item 8: integers beyond ±(2**53 - 1) are refused in metadata and filters; those within are exact."""
    col = store.collection("c", dim=2)
    for n in (2**53, -(2**53), 2**63 - 1):
        with pytest.raises(InvalidInputError, match="2\\*\\*53"):
            col.upsert([{"id": "a", "vector": [1, 0], "metadata": {"n": n}}])
        with pytest.raises(FilterError, match="2\\*\\*53"):
            col.count({"n": n})
    top = 2**53 - 1
    col.upsert([{"id": str(i), "vector": [1, i + 1], "metadata": {"n": v}}
                for i, v in enumerate([top, top - 1, -top, -top + 1, 3, 3.0, 2.5])])
    assert col.count({"n": top}) == 1 and col.count({"n": -top}) == 1
    assert {h.id for h in col.search([1, 1], k=10, filter={"n": top - 1})} == {"1"}
    assert col.count({"n": {"$gt": top - 1}}) == 1
    assert col.count({"n": 3}) == 2 and col.count({"n": 3.0}) == 2 and col.count({"n": {"$gt": 2}}) == 5


def test_item5_true_is_not_1_after_a_cached_filter(store):
    """Item 5: a filter on True, then one on 1 (equal in Python) must not share a cached answer."""
    col = store.collection("c", dim=2)
    col.upsert([{"id": "t", "vector": [1, 0], "metadata": {"x": True}},
                {"id": "one", "vector": [0, 1], "metadata": {"x": 1}},
                {"id": "f", "vector": [1, 1], "metadata": {"x": False}},
                {"id": "zero", "vector": [1, 2], "metadata": {"x": 0.0}}])
    assert col.count({"x": True}) == 1
    assert [h.id for h in col.search([1, 0], k=5, filter={"x": 1})] == ["one"]
    assert col.count({"x": False}) == 1
    assert [h.id for h in col.search([1, 0], k=5, filter={"x": 0})] == ["zero"]
    assert [h.id for h in col.search([1, 0], k=5, filter={"x": {"$in": [True]}})] == ["t"]


def test_item14_negative_zero_is_stored_as_zero_everywhere(store):
    """Item 14: -0.0 reads back as 0.0 on every backend (Chroma cannot keep the sign)."""
    col = store.collection("c", dim=2)
    col.upsert([{"id": "a", "vector": [1, 0], "metadata": {"z": -0.0}}])
    value = col.get(["a"])[0].metadata["z"]
    assert value == 0.0 and math.copysign(1.0, value) == 1.0
    assert col.count({"z": 0}) == 1 and col.count({"z": -0.0}) == 1


TINY = [[1e-21, 2e-21, 0, 0], [3e-23, 0, 0, 0], [1e-23, 0, 0, 0], [1e-40, 0, 0, 1e-41], [3e38, 3e38, 0, 0]]


def test_item11_tiny_and_huge_vectors_are_stored_unit_length(store):
    """Item 11: cosine normalisation in float64: tiny vectors are not refused and keep unit length."""
    col = store.collection("c", dim=4, metric="cosine")
    col.upsert(ids=[f"v{i}" for i in range(len(TINY))], vectors=TINY)
    for record in col.get([f"v{i}" for i in range(len(TINY))]):
        assert abs(np.linalg.norm(record.vector.astype(np.float64)) - 1) < 1e-6, record
    for i, vector in enumerate(TINY):
        hit = col.search(vector, k=1, exact=store.capabilities.exact_search)[0]
        assert abs(hit.score - 1) < 1e-5, (i, hit)


@pytest.mark.parametrize("url", ["faiss://", "chroma://"])
def test_item11_l2_self_score_is_zero_in_the_numpy_path(url):
    """Item 11: vecstore's own numpy path (Faiss filtered search, Chroma exact=True) scores l2 in float64."""
    rng = np.random.default_rng(3)
    vectors = (rng.normal(size=(50, 384)) * 10).astype(np.float32)
    with vecstore.connect(url) as store:
        col = store.collection("c", dim=384, metric="l2")
        col.upsert(ids=[str(i) for i in range(50)], vectors=vectors, metadata=[{"g": i % 2} for i in range(50)])
        for i in range(10):
            hit = col.search(vectors[i], k=1, filter={"g": i % 2}, exact=True)[0]
            assert hit.id == str(i) and -1e-5 < hit.score <= 0.0, hit


# -- item 1: a Faiss directory store keeps every acknowledged write ------------------

WRITER = textwrap.dedent("""
    import os, signal, sys, numpy as np, vecstore
    url, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    vectors = np.random.default_rng(7).normal(size=(n, 16)).astype(np.float32)

    def write(store):
        col = store.collection("c", dim=16, metric="l2")
        for start in range(0, n, 500):
            col.upsert(ids=[f"d{i}" for i in range(start, min(n, start + 500))], vectors=vectors[start:start + 500],
                       texts=[f"t{i}" for i in range(start, min(n, start + 500))],
                       metadata=[{"i": i} for i in range(start, min(n, start + 500))])
            print("ACK", min(n, start + 500), flush=True)
        col.delete(["d0"])
        print("ACK delete", flush=True)

    if mode == "dropped":          # made in a function, never closed, garbage-collected
        def work():
            write(vecstore.connect(url))
        work()
    elif mode == "exit":           # never closed, sys.exit(0)
        write(vecstore.connect(url))
        sys.exit(0)
    else:                          # killed with SIGKILL after the last acknowledgement
        write(vecstore.connect(url))
        os.kill(os.getpid(), signal.SIGKILL)
""")

READER = textwrap.dedent("""
    import json, sys, numpy as np, vecstore
    url, n = sys.argv[1], int(sys.argv[2])
    vectors = np.random.default_rng(7).normal(size=(n, 16)).astype(np.float32)
    with vecstore.connect(url) as store:
        col = store.collection("c")
        seen = [r.id for batch in col.iterate(700, include_vectors=False) for r in batch]
        got = {r.id: r for r in col.get([f"d{i}" for i in range(n)])}
        exact = all(np.array_equal(got[f"d{i}"].vector, vectors[i]) and got[f"d{i}"].text == f"t{i}"
                    and got[f"d{i}"].metadata == {"i": i} for i in range(1, n))
        top = col.search(vectors[n - 1], k=1)[0]
        col.upsert([{"id": "new", "vector": [0.5] * 16}])
        print(json.dumps({"count": col.count(), "iterated": len(seen), "unique": len(set(seen)),
                          "d0": "d0" in got, "exact": exact, "top": top.id}))
""")


@pytest.mark.parametrize("mode", ["dropped", "exit", "kill"])
def test_item1_faiss_directory_keeps_acknowledged_writes_without_close(tmp_path, mode):
    """Item 1: dropped without close(), sys.exit(0) or SIGKILL: a new process finds every acknowledged write."""
    url, n = f"faiss://{tmp_path}/store", 5000
    proc = subprocess.run([sys.executable, "-c", WRITER, url, mode, str(n)], capture_output=True, text=True)
    assert proc.stdout.strip().splitlines()[-1] == "ACK delete", proc.stderr
    assert proc.returncode == (-signal.SIGKILL if mode == "kill" else 0)
    out = subprocess.run([sys.executable, "-c", READER, url, str(n)], capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got == {"count": n, "iterated": n - 1, "unique": n - 1, "d0": False, "exact": True, "top": f"d{n - 1}"}
    again = subprocess.run([sys.executable, "-c", READER, url, str(n)], capture_output=True, text=True, check=True)
    assert json.loads(again.stdout)["count"] == n  # the write of the first reader was kept too


def test_item1_a_torn_log_tail_is_cut_and_writing_goes_on(tmp_path):
    """Item 1: a crash in the middle of a log write leaves a torn frame; it is dropped, the rest kept."""
    url = f"faiss://{tmp_path}/store"
    proc = subprocess.run([sys.executable, "-c", WRITER, url, "kill", "1000"], capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL
    log = next(p for p in (tmp_path / "store" / "c").iterdir() if p.name.startswith("wal-"))
    size = log.stat().st_size
    with open(log, "ab") as fh:  # half a frame, as a write cut off by the crash would leave it
        fh.write(b"VSW1" + (500).to_bytes(4, "little") + b"\x00" * 40)
    with vecstore.connect(url) as store:
        col = store.collection("c")
        assert col.count() == 999 and col.get(["d0"]) == []
        col.upsert([{"id": "after", "vector": [1.0] * 16}])
        assert log.stat().st_size > size
    with vecstore.connect(url) as store:
        assert store.collection("c").count() == 1000


def test_item4_a_refused_surrogate_does_not_poison_a_faiss_directory(tmp_path):
    """Item 4: the surrogate is refused, so the store keeps saving; a new process reads it back."""
    url = f"faiss://{tmp_path}/store"
    with vecstore.connect(url) as store:
        col = store.collection("c", dim=2)
        col.upsert([{"id": "a", "vector": [1, 0]}])
        with pytest.raises(InvalidInputError):
            col.upsert([{"id": "b", "vector": [0, 1], "text": "bad\ud800"}])
        col.upsert([{"id": "c", "vector": [0, 1]}])
    code = f"import vecstore; print(vecstore.connect({url!r}).collection('c').count())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "2"
    assert not any(name.endswith(".tmp") or ".tmp-" in name for name in os.listdir(tmp_path / "store" / "c"))


def test_item12_threads_opening_one_new_collection_create_it_once(store):
    """Item 12: check-then-create is atomic per store, so racing threads all get the one collection."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        cols = list(pool.map(lambda i: store.collection("race", dim=2), range(8)))
    cols[0].upsert([{"id": "a", "vector": [1, 0]}])
    assert all(c.count() == 1 for c in cols) and store.list_collections() == ["race"]
