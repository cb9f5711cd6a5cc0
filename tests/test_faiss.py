"""The conformance suite on real Faiss, in memory and on disk, flat and HNSW."""

from __future__ import annotations

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
