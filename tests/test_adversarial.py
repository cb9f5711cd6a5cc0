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

import dataclasses
import importlib.util
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


@dataclasses.dataclass(frozen=True)
class Target:
    """A backend and a way of opening it."""

    label: str
    module: str  # the SDK it needs
    url: str = ""  # ``{tmp}`` is replaced by a fresh directory
    server: str = ""  # a backend name: the plugin's real server
    second_client: str | None = None  # LOCKED / SHARED for persistent targets
    examples: int = 40  # differential examples (Hypothesis max_examples)
    crash: bool = False  # the crash suite too (embedded stores; LOCKED ones always)

    def resolve(self, tmp: Path, request: pytest.FixtureRequest) -> str:
        if importlib.util.find_spec(self.module) is None:
            pytest.skip(f"{self.module} is not installed")
        if self.server:
            url_for: Callable[..., str] = request.getfixturevalue("vecstore_url_for")
            return url_for(self.server, server=True)
        return self.url.format(tmp=tmp)


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


def _params(targets: list[Target]) -> list[object]:
    return [pytest.param(t, id=t.label) for t in targets]


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


@pytest.mark.parametrize("target", _params(TARGETS))
class TestDifferential(_OnTarget, DifferentialTests):
    pass


@pytest.mark.parametrize("target", _params(TARGETS))
class TestHostileStrings(_OnTarget, HostileStringTests):
    pass


@pytest.mark.parametrize("target", _params(TARGETS))
class TestThreads(_OnTarget, ThreadTests):
    pass


@pytest.mark.parametrize("target", _params(EMBEDDED))
class TestCrash(_OnTarget, CrashTests):
    pass


@pytest.mark.parametrize("target", _params(PERSISTENT))
class TestTwoProcesses(_OnTarget, TwoProcessTests):
    pass
