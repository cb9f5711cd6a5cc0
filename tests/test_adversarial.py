"""The adversarial suites (:mod:`vecstore.testing.adversarial`) on every local backend.

Each test id names its target first (``[faiss-dir-...]``): the backend and how it
is opened.  In-memory targets get the differential, hostile-string and thread
suites; persistent embedded ones also the crash and two-process suites
(``second_client=LOCKED``, or ``SHARED`` for ``pgvector:///dir``, whose private
PostgreSQL serves every process); servers the two-process suite as ``SHARED``.
Server targets come from vecstore's pytest plugin (a local ``chroma run``, or
``QDRANT_URL``/``ELASTICSEARCH_URL``/Docker) and are skipped with its reason
when there is none.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import vecstore
from vecstore.testing.adversarial import (
    LOCKED,
    SHARED,
    CrashTests,
    DifferentialTests,
    HostileStringTests,
    ThreadTests,
    TwoProcessTests,
)

from .targets import Target, params

TARGETS = [
    Target("faiss-memory", "faiss", "faiss://"),
    Target("faiss-dir", "faiss", "faiss://{tmp}/faiss", second_client=LOCKED),
    Target("chroma-memory", "chromadb", "chroma://"),
    Target("chroma-dir", "chromadb", "chroma://{tmp}/chroma", second_client=LOCKED),
    Target("chroma-server", "chromadb", server="chroma", second_client=SHARED),
    Target("qdrant-memory", "qdrant_client", "qdrant://"),
    Target("qdrant-dir", "qdrant_client", "qdrant://{tmp}/qdrant", second_client=LOCKED),
    Target("qdrant-edge", "qdrant_edge", "qdrant-edge://{tmp}/edge", second_client=LOCKED),
    Target("milvus-lite-memory", "milvus_lite", "milvus://"),
    Target("milvus-lite-file", "milvus_lite", "milvus://{tmp}/milvus.db", second_client=LOCKED),
    Target("pgvector-memory", "psycopg", "pgvector://"),
    Target("pgvector-dir", "psycopg", "pgvector://{tmp}/pg", second_client=SHARED, crash=True),
    Target("pgvector-server", "psycopg", server="pgvector", second_client=SHARED),
    Target("qdrant-server", "qdrant_client", server="qdrant", second_client=SHARED),
    Target("elasticsearch-server", "elasticsearch", server="elasticsearch", second_client=SHARED),
]
PERSISTENT = [t for t in TARGETS if t.second_client]
# embedded stores: single-writer ones (LOCKED), and pgvector's private server, shared by processes
EMBEDDED = [t for t in PERSISTENT if t.second_client == LOCKED or t.crash]


class _OnTarget:
    @pytest.fixture
    def target_url(self, target: Target, tmp_path: Path, request: pytest.FixtureRequest) -> str:
        return target.resolve(tmp_path, request)

    @pytest.fixture
    def store_factory(self, target_url: str) -> Callable[[], vecstore.VectorStore]:
        return lambda: vecstore.connect(target_url)

    @pytest.fixture
    def location_url(self, target_url: str) -> str:
        return target_url

    @pytest.fixture
    def second_client(self, target: Target) -> str | None:
        return target.second_client

    @pytest.fixture
    def differential_examples(self, target: Target) -> int:
        return target.examples


@pytest.mark.parametrize("target", params(TARGETS))
class TestDifferential(_OnTarget, DifferentialTests):
    pass


@pytest.mark.parametrize("target", params(TARGETS))
class TestHostileStrings(_OnTarget, HostileStringTests):
    pass


@pytest.mark.parametrize("target", params(TARGETS))
class TestThreads(_OnTarget, ThreadTests):
    pass


@pytest.mark.parametrize("target", params(EMBEDDED))
class TestCrash(_OnTarget, CrashTests):
    pass


@pytest.mark.parametrize("target", params(PERSISTENT))
class TestTwoProcesses(_OnTarget, TwoProcessTests):
    pass
