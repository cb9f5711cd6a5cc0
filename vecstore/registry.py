"""Backends by URL scheme: a built-in table of import paths, plus entry points.

A backend's module is imported only when a URL with its scheme is opened, so
``import vecstore`` pulls in no SDK.  Third parties register with
:func:`register_backend` or an entry point in the group ``vecstore.backends``
whose name is the scheme and whose value is ``"module:Class"``.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from .errors import BackendNotInstalledError, UnknownBackendError
from .url import parse_url

if TYPE_CHECKING:
    from .store import VectorStore

ENTRY_POINT_GROUP = "vecstore.backends"


@dataclasses.dataclass(frozen=True)
class BackendEntry:
    scheme: str
    target: str  # "module:Class"
    extra: str | None = None  # the pip extra that installs its SDK
    requires: tuple[str, ...] = ()  # top-level modules the SDK provides
    modes: tuple[str, ...] = ()

    @property
    def install_hint(self) -> str:
        return f"pip install 'vecstore[{self.extra}]'" if self.extra else "install the package that provides it"

    def missing(self) -> list[str]:
        return [m for m in self.requires if importlib.util.find_spec(m) is None]


_BUILTIN = [
    BackendEntry("faiss", "vecstore.adapters.faiss:FaissStore", "faiss", ("faiss",), ("memory", "path")),
    BackendEntry("chroma", "vecstore.adapters.chroma:ChromaStore", "chroma", ("chromadb",), ("memory", "path", "server")),
    BackendEntry("qdrant", "vecstore.adapters.qdrant:QdrantStore", "qdrant", ("qdrant_client",), ("memory", "path", "server")),
    BackendEntry("qdrant-edge", "vecstore.adapters.qdrant.edge:QdrantEdgeStore", "qdrant", ("qdrant_edge",), ("path",)),
    BackendEntry("milvus", "vecstore.adapters.milvus:MilvusStore", "milvus", ("pymilvus", "milvus_lite"), ("memory", "path", "server")),
    BackendEntry("pgvector", "vecstore.adapters.pgvector:PgvectorStore", "pgvector", ("psycopg", "psycopg_pool", "pgvector"),
                 ("memory", "path", "server")),
    BackendEntry("elasticsearch", "vecstore.adapters.elasticsearch:ElasticsearchStore", "elasticsearch", ("elasticsearch",), ("server",)),
]
_ALIASES = {"es": "elasticsearch", "postgres": "pgvector", "postgresql": "pgvector"}
_registry: dict[str, BackendEntry] = {e.scheme: e for e in _BUILTIN}
_classes: dict[str, type[VectorStore]] = {}
_entry_points_loaded = False


def register_backend(scheme: str, target: str | type[VectorStore], *, extra: str | None = None,
                     requires: tuple[str, ...] = (), modes: tuple[str, ...] = ()) -> None:
    """Register (or replace) the backend for a URL scheme."""
    scheme = scheme.lower()
    if isinstance(target, str):
        _registry[scheme] = BackendEntry(scheme, target, extra, requires, modes)
        _classes.pop(scheme, None)
    else:
        _registry[scheme] = BackendEntry(scheme, f"{target.__module__}:{target.__qualname__}", extra, requires, modes)
        _classes[scheme] = target


def _load_entry_points() -> None:
    global _entry_points_loaded
    if _entry_points_loaded:
        return
    _entry_points_loaded = True
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name.lower() not in _registry:
            _registry[ep.name.lower()] = BackendEntry(ep.name.lower(), ep.value)


def backends() -> list[BackendEntry]:
    """Every registered backend (built-in and from entry points), sorted by scheme."""
    _load_entry_points()
    return sorted(_registry.values(), key=lambda e: e.scheme)


def resolve(scheme: str) -> type[VectorStore]:
    """The store class for a scheme; raises with the pip extra to install when its SDK is missing."""
    scheme = _ALIASES.get(scheme.lower(), scheme.lower())
    if scheme in _classes:
        return _classes[scheme]
    _load_entry_points()
    entry = _registry.get(scheme)
    if entry is None:
        known = ", ".join(sorted([*_registry, *_ALIASES]))
        raise UnknownBackendError(f"no backend for scheme {scheme!r}; known schemes: {known}")
    missing = entry.missing()
    if missing:
        raise BackendNotInstalledError(
            f"the {scheme!r} backend needs {', '.join(missing)}: {entry.install_hint}"
        )
    module_name, _, attr = entry.target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise BackendNotInstalledError(
            f"the {scheme!r} backend could not import {exc.name}: {entry.install_hint}"
        ) from exc
    cls: type[VectorStore] = getattr(module, attr)
    _classes[scheme] = cls
    return cls


def connect(url: str, **options: Any) -> VectorStore:
    """Open a store by URL; nothing is connected until the first call that needs it.

    >>> store = connect("faiss://")                # in memory
    >>> store = connect("qdrant:///data/qdrant")   # embedded, on disk
    >>> store = connect("chroma://localhost:8000") # a server
    """
    spec = parse_url(url)
    cls = resolve(spec.scheme)
    return cls(spec, **options)
