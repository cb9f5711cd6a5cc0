"""The conformance suite on Qdrant: qdrant-client's local mode (memory and
disk), Qdrant Edge (Qdrant's Rust engine in process), and a real Qdrant server
where one is reachable."""

from __future__ import annotations

import time

import pytest

import vecstore
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


pytest.importorskip("qdrant_edge", reason="qdrant-edge-py is not installed: pip install 'vecstore[qdrant]'")


class TestQdrantEdge(ConformanceSuite):
    @pytest.fixture
    def store_factory(self, tmp_path):
        return lambda: vecstore.connect(f"qdrant-edge://{tmp_path}/edge")


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
