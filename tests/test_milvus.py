"""The conformance suite on Milvus Lite (Milvus's engine in process, from one
file), the filter compiler's injection safety, files shared between processes
(reopen, lock), paging by id, complete filtered HNSW search, and a Milvus
server where one is reachable (MILVUS_URL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import vecstore
from vecstore.filters import parse
from vecstore.testing.conformance import ConformanceSuite

pytest.importorskip("pymilvus", reason="pymilvus is not installed: pip install 'vecstore[milvus]'")
pytest.importorskip("milvus_lite", reason="milvus-lite is not installed: pip install 'vecstore[milvus]'")

from vecstore.adapters.milvus.filters import compile_expr, literal  # noqa: E402


class TestMilvusLiteMemory(ConformanceSuite):
    @pytest.fixture
    def store_factory(self):
        return lambda: vecstore.connect("milvus://")


class TestMilvusLiteFile(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"milvus://{tmp_path}/milvus.db")


class TestMilvusLiteHnsw(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"milvus://{tmp_path}/hnsw.db")

    @pytest.fixture
    def collection_defaults(self):
        return {"index": "hnsw"}


HOSTILE = ['" or 1==1 or "', 'a"]) or (metadata["x', "back\\slash", 'quote"', "new\nline", "'single'", "ü/ß", "",
           "tab\tcr\r", "ctl\x01\x08\x0c\x1f\x7f", "\u2028😀"]


@pytest.mark.parametrize("value", HOSTILE)
def test_string_values_stay_one_literal(value):
    """Also issue 13 item 3: ``literal`` writes only escapes Milvus Lite's tokenizer knows
    (json.dumps wrote ``\\b``, ``\\f``, ``\\u0001``, which it refuses)."""
    from milvus_lite.search.filter.tokens import TokenKind, tokenize

    expr = compile_expr(parse({"lang": value}))
    assert expr == f'(metadata["lang"] == {literal(value)} and vs_types["lang"] == "s")'
    string, end = tokenize(literal(value))
    assert string.kind == TokenKind.STRING and string.value == value and end.kind == TokenKind.EOF


def test_injection_attempts_match_nothing_and_break_nothing(tmp_path):
    with vecstore.connect(f"milvus://{tmp_path}/inj.db") as store:
        col = store.collection("inj", dim=2)
        records = [{"id": f"r{i}", "vector": [1.0, float(i)], "metadata": {"lang": v}} for i, v in enumerate(HOSTILE)]
        records.append({"id": "plain", "vector": [1.0, 0.5], "metadata": {"lang": "en"}})
        col.upsert(records)
        for i, value in enumerate(HOSTILE):
            assert [h.id for h in col.search([1.0, 0.0], k=20, filter={"lang": value})] == [f"r{i}"]
            assert col.count({"lang": {"$ne": value}}) == len(records) - 1
        assert col.count({"lang": '" or 1==1 or "x'}) == 0
        hostile_key = {'k"]': 'v"'}  # metadata keys are plain identifiers now: refused before Milvus sees them
        with pytest.raises(vecstore.InvalidInputError):
            col.upsert([{"id": "key", "vector": [0.0, 1.0], "metadata": hostile_key}])
        with pytest.raises(vecstore.FilterError):
            col.count(hostile_key)


def test_typed_equality_true_is_not_one():
    with vecstore.connect("milvus://") as store:
        col = store.collection("types", dim=2)
        col.upsert([{"id": "b", "vector": [1, 0], "metadata": {"v": True}}, {"id": "i", "vector": [0, 1], "metadata": {"v": 1}}])
        assert [r.id for b in col.iterate(filter={"v": True}) for r in b] == ["b"]
        assert [r.id for b in col.iterate(filter={"v": 1}) for r in b] == ["i"]


def test_too_long_text_writes_nothing():
    with vecstore.connect("milvus://") as store:
        col = store.collection("long", dim=2)
        with pytest.raises(vecstore.InvalidInputError, match="65535 bytes"):
            col.upsert([{"id": "ok", "vector": [1, 0]}, {"id": "x", "vector": [0, 1], "text": "é" * 40_000}], batch_size=1)
        assert col.count() == 0


def test_temporary_file_is_removed_on_close():
    store = vecstore.connect("milvus://")
    store.list_collections()
    path = store._tmpdir
    assert path and os.path.isdir(path)
    store.close()
    assert not os.path.exists(path)


def test_unreachable_server_raises_unavailable():
    start = time.monotonic()
    with pytest.raises(vecstore.BackendUnavailableError, match="127.0.0.1:1") as err:
        vecstore.connect("milvus://u:s3cret@127.0.0.1:1", timeout=3).collection("x", dim=4)
    assert time.monotonic() - start < 15 and "s3cret" not in str(err.value)


@pytest.fixture(scope="module")
def milvus_server(vecstore_url_for):
    """MILVUS_URL, or a Milvus standalone container when Docker answers (vecstore's pytest plugin)."""
    return vecstore_url_for("milvus", server=True)


@pytest.mark.integration
class TestMilvusServer(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, milvus_server):
        return lambda: vecstore.connect(milvus_server)


def test_compare_includes_milvus_lite(tmp_path):
    from tests.test_pipeline import make_beir
    from vecstore.compare import compare
    from vecstore.embed import HashEmbedder

    # 60 documents, as in test_compare: with 50, HashEmbedder(32) ties exactly at rank 10 for two
    # queries, and which tied document an exact search returns is arbitrary (faiss also gets 0.9)
    results = compare(make_beir(tmp_path / "beir", n=60), ["milvus-flat=milvus://", "milvus-hnsw=milvus://?index=hnsw"],
                      embedder=HashEmbedder(32), cache=False, repeat=1, warmup=1, concurrency=2,
                      sweep={"ef_search": [8, 32]})
    flat, hnsw = results["backends"]
    assert flat["status"] == hnsw["status"] == "ok", (flat.get("error"), hnsw.get("error"))
    assert flat["recall@10"] == 1.0 and flat["filtered"]["recall@10"] == 1.0
    assert [s["value"] for s in hnsw["sweep"]] == [8, 32] and flat["sweep"] == []


def test_optimize_seals_and_indexes_everything():
    import numpy as np

    vectors = np.random.default_rng(0).normal(size=(2000, 16)).astype(np.float32)
    with vecstore.connect("milvus://") as store:
        col = store.collection("opt", dim=16, index="hnsw")
        col.upsert(ids=[str(i) for i in range(2000)], vectors=vectors)
        col.optimize()
        info = store._client.describe_index("opt", "vector")
        assert info["indexed_rows"] == info["total_rows"] == 2000 and info["pending_index_rows"] == 0
        assert col.count() == 2000 and col.search(vectors[7], k=1, ef_search=64)[0].id == "7"


# -- issue 13 items 2 and 13: a Milvus Lite file shared by processes, one at a time -----------------

_HELPER = os.path.join(os.path.dirname(__file__), "_milvus_subprocess.py")


def _serve(url: str) -> subprocess.Popen[str]:
    """A store in a child process (tests/_milvus_subprocess.py), driven over stdin/stdout."""
    return subprocess.Popen([sys.executable, _HELPER, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def _ask(proc: subprocess.Popen[str], command: str | None = None) -> str:
    """Send ``command`` (if any) and return the child's next line."""
    assert proc.stdin is not None and proc.stdout is not None
    if command is not None:
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
    return proc.stdout.readline().strip()


def _finish(proc: subprocess.Popen[str]) -> int:
    if proc.poll() is None:
        proc.communicate("exit\n", timeout=60)
    return proc.wait(timeout=60)


@pytest.mark.parametrize("ending", ["close", "exit-open", "kill"])
def test_file_is_readable_by_a_new_process(tmp_path, ending):
    """Issue 13 item 2: a new process could count() a Milvus Lite file but not get, search or
    iterate it ("Collection ... is in state 'released'; call load()"): after close(), after an
    exit without close, and after SIGKILL once the upsert had returned."""
    url = f"milvus://{tmp_path}/shared.db"
    writer = _serve(url)
    assert _ask(writer) == "READY" and _ask(writer, "write") == "ACK"
    if ending == "kill":
        os.kill(writer.pid, signal.SIGKILL)
    elif ending == "close":
        assert _ask(writer, "close") == "CLOSED"
        assert _finish(writer) == 0
    else:
        assert _ask(writer, ending) == ""  # exited
    writer.wait(timeout=60)
    reader = _serve(url)  # a fresh interpreter
    try:
        assert _ask(reader) == "READY"
        assert _ask(reader, "check") == "OK 24"
    finally:
        assert _finish(reader) == 0


def test_second_process_gets_store_locked_error(tmp_path):
    """Issue 13 item 13: a second client of a Milvus Lite file got a generic BackendError; it is
    StoreLockedError (naming the URL) now, and once the first client closes — its process still
    running — another process opens the file."""
    url = f"milvus://{tmp_path}/locked.db"
    holder = _serve(url)
    try:
        assert _ask(holder) == "READY" and _ask(holder, "write") == "ACK"
        second = _serve(url)
        assert _ask(second) == f"LOCKED {url} is open in another Milvus Lite client (this or another process);" \
                               " close that one first"
        assert _finish(second) == 3
        with pytest.raises(vecstore.StoreLockedError, match="open in another"):
            vecstore.connect(url).list_collections()  # this process too
        assert _ask(holder, "close") == "CLOSED"
        after = _serve(url)
        assert _ask(after) == "READY" and _ask(after, "check") == "OK 24"
        assert _finish(after) == 0
    finally:
        assert _finish(holder) == 0


def test_second_client_in_one_process_is_locked_until_close(tmp_path):
    """Issue 13 item 13, in one process: the second store is refused, and opens after close()."""
    url = f"milvus://{tmp_path}/one.db"
    first = vecstore.connect(url)
    first.collection("c", dim=2).upsert([{"id": "a", "vector": [1, 0]}])
    with pytest.raises(vecstore.StoreLockedError, match=url):
        vecstore.connect(url).collection("c")
    first.close()
    with vecstore.connect(url) as second:
        assert [r.id for r in second.collection("c").get(["a"])] == ["a"]


# -- issue 13 item 3: iterate() pages by id itself, with the id escaped ------------------------------

HOSTILE_IDS = ['x" or id != "', 'a"b', "a\\b", "a\nb", "'", "ü/ß", "é" * 300, "tab\there", "cr\rctl\x01\x08",
               "😀", "plain", "z"]


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_iterate_delete_and_exact_scan_with_hostile_ids(batch_size):
    """Issue 13 item 3: pymilvus's query_iterator pasted the last id unescaped (``id > "<id>"``):
    ``x" or id != "`` looped forever (41 batches of 2 records), quotes, backslashes and newlines
    failed; delete(filter=) and exact scans go through the same paging."""
    import itertools

    import numpy as np

    with vecstore.connect("milvus://") as store:
        col = store.collection("ids", dim=2, index="hnsw")
        col.upsert([{"id": i, "vector": [1.0, n / 10], "text": i, "metadata": {"n": n, "s": i}}
                    for n, i in enumerate(HOSTILE_IDS)])
        batches = list(itertools.islice(col.iterate(batch_size=batch_size), len(HOSTILE_IDS) + 1))
        got = [r for b in batches for r in b]
        assert all(len(b) <= batch_size for b in batches)
        assert sorted(r.id for r in got) == sorted(HOSTILE_IDS)  # each exactly once, and the iteration ended
        assert all(r.text == r.id == r.metadata["s"] and r.vector is not None for r in got)
        for i in HOSTILE_IDS:
            assert [r.id for b in col.iterate(batch_size, filter={"s": i}) for r in b] == [i]
            assert [h.id for h in col.search([1.0, 0.0], k=5, filter={"s": i}, exact=True)] == [i]
        exact = col.search([1.0, 0.0], k=len(HOSTILE_IDS), exact=True, include_vectors=True)
        assert sorted(h.id for h in exact) == sorted(HOSTILE_IDS)
        np.testing.assert_allclose([h.score for h in exact], sorted((h.score for h in exact), reverse=True))
        doomed = set(HOSTILE_IDS[::2])
        assert col.delete(filter={"s": {"$in": sorted(doomed)}}) == len(doomed)
        assert sorted(r.id for b in col.iterate(batch_size) for r in b) == sorted(set(HOSTILE_IDS) - doomed)
        assert col.count() == len(HOSTILE_IDS) - len(doomed)


def test_iterate_is_complete_across_sealed_and_growing_segments():
    """Issue 13 item 3: paging by ``id >`` must see every live record once, whatever segment
    (sealed by optimize(), or growing) holds it, after overwrites and deletes."""
    import random

    import numpy as np

    rng = random.Random(1)
    live: dict[str, int] = {}
    with vecstore.connect("milvus://") as store:
        col = store.collection("segs", dim=4, index="hnsw")
        for rnd in range(4):
            ids = [rng.choice('abXü"\\') + str(rng.randrange(1500)) for _ in range(400)]
            col.upsert(ids=ids, vectors=np.random.default_rng(rnd).normal(size=(400, 4)), metadata=[{"r": rnd}] * 400)
            live.update(dict.fromkeys(ids, rnd))
            gone = rng.sample(sorted(live), 50)
            col.delete(gone)
            for i in gone:
                del live[i]
            if rnd % 2:
                col.optimize()
        for batch_size in (7, 1000, 100_000):
            got = [r.id for b in col.iterate(batch_size, include_vectors=False) for r in b]
            assert len(got) == len(live) and set(got) == set(live)
        got = [r.id for b in col.iterate(50, filter={"r": {"$gte": 2}}) for r in b]
        assert sorted(got) == sorted(i for i, r in live.items() if r >= 2)


def test_iterate_refuses_a_page_out_of_id_order(monkeypatch):
    """Issue 13 item 3: completeness rests on pages in id order; a page out of order raises
    instead of silently skipping records."""
    with vecstore.connect("milvus://") as store:
        col = store.collection("order", dim=2)
        col.upsert([{"id": i, "vector": [1, 0]} for i in "abc"])
        real = store._client.query
        monkeypatch.setattr(store._client, "query", lambda *a, **kw: real(*a, **kw)[::-1])
        with pytest.raises(vecstore.BackendError, match="out of primary-key order"):
            list(col.iterate())


# -- issue 13 item 10: a filtered HNSW search returns k hits whenever k records match --------------

@pytest.mark.parametrize("index, options", [("hnsw", {}), ("ivf", {"nlist": 64, "nprobe": 1})])
def test_filtered_hnsw_search_returns_k_hits(tmp_path, index, options):
    """Issue 13 item 10: 3,000 records, a filter matching 30, k = 10: Milvus Lite's HNSW (faiss
    with an id selector, ef 64) returned 6-9 hits for half of 20 queries (IVF with a small
    nprobe, 0-2)."""
    import numpy as np

    from vecstore.filters import parse

    rng = np.random.default_rng(32)
    vectors, queries = rng.normal(size=(3000, 32)), rng.normal(size=(20, 32))
    url = f"milvus://{tmp_path}/{index}.db"
    with vecstore.connect(url) as store:
        col = store.collection("f", dim=32, metric="l2", index=index, **options)
        col.upsert(ids=[f"r{i}" for i in range(3000)], vectors=vectors, metadata=[{"g": i < 30} for i in range(3000)])
        col.optimize()
    with vecstore.connect(url) as store:  # reopened: loading builds the HNSW graphs the search then uses
        col = store.collection("f")
        rows = col.search_batch(queries, k=10, filter={"g": True})
        assert [len(row) for row in rows] == [10] * 20
        raw = col._ann(col._queries(queries, single=False), 10, parse({"g": True}), False, col._index_params({}, 10))
        assert any(len(row) < 10 for row in raw)  # the index alone comes back short: the test tests something
        assert all(int(h.id[1:]) < 30 for row in rows for h in row)
        assert all([h.score for h in row] == sorted((h.score for h in row), reverse=True) for row in rows)
        assert len(col.search(queries[0], k=50, filter={"g": True})) == 30  # k above the matches: all of them


def test_full_search_rows_cost_no_extra_call(monkeypatch):
    """Issue 13 item 10: the completion step (a count, a wide search, a scan) runs only when a
    row comes back short."""
    import numpy as np

    with vecstore.connect("milvus://") as store:
        col = store.collection("cheap", dim=4, index="hnsw")
        col.upsert(ids=[str(i) for i in range(50)], vectors=np.random.default_rng(0).normal(size=(50, 4)))

        def boom(*args):
            raise AssertionError("counted")

        monkeypatch.setattr(col, "_count", boom)
        assert len(col.search([1, 0, 0, 0], k=10)) == 10
        assert len(col.search_batch(np.eye(4), k=10, filter={"x": {"$ne": 1}})) == 4


def test_file_held_by_plain_pymilvus_elsewhere_is_store_locked(tmp_path):
    """Issue 13 item 13: Milvus Lite's own lock, held by a client that is not vecstore's
    (plain pymilvus in another process), also gives StoreLockedError, not BackendError."""
    path = tmp_path / "plain.db"
    holder = subprocess.Popen([sys.executable, "-c", "import sys; from pymilvus import MilvusClient;"
                               f" MilvusClient({str(path)!r}).list_collections(); print('READY', flush=True);"
                               " sys.stdin.readline()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert _ask(holder) == "READY"
        with pytest.raises(vecstore.StoreLockedError, match="open in another Milvus Lite client"):
            vecstore.connect(f"milvus://{path}").list_collections()
    finally:
        assert _finish(holder) == 0
    with vecstore.connect(f"milvus://{path}") as store:  # the holder has exited
        assert store.list_collections() == []
