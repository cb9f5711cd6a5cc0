"""Backends and the ways of opening them, shared by the suites parametrised over targets."""

from __future__ import annotations

import dataclasses
import importlib.util
from collections.abc import Callable
from pathlib import Path

import pytest


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


def pgvector_unusable() -> str | None:
    """Why the installed embedded pgvector cannot run on this CPU (``None``: it can, or psycopg is
    missing, which the tests themselves report)."""
    try:
        from vecstore.adapters.pgvector import server
    except ImportError:
        return None
    return server.unusable_reason()


def params(targets: list[Target]) -> list[object]:
    return [pytest.param(t, id=t.label) for t in targets]


#: Where the framework integrations run: each backend once, its server where the plugin has one.
FRAMEWORK_TARGETS = [
    Target("faiss", "faiss", "faiss://"),
    Target("chroma-memory", "chromadb", "chroma://"),
    Target("chroma-server", "chromadb", server="chroma"),
    Target("qdrant-local", "qdrant_client", "qdrant://"),
    Target("qdrant-edge", "qdrant_edge", "qdrant-edge://{tmp}/edge"),
    Target("milvus-lite", "milvus_lite", "milvus://"),
    Target("pgvector-server", "psycopg", server="pgvector"),
    Target("qdrant-server", "qdrant_client", server="qdrant"),
    Target("elasticsearch-server", "elasticsearch", server="elasticsearch"),
]
