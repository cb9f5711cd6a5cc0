"""The conformance suite on Chroma: in process (memory and disk) and a real `chroma run` server."""

from __future__ import annotations

import time

import numpy as np
import pytest

import vecstore
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
