"""vecstore: one vector-store contract, adapters for Faiss, Chroma, Qdrant,
Elasticsearch, Milvus and PostgreSQL/pgvector, and tools to ingest, search and
compare them.

>>> import vecstore
>>> with vecstore.connect("faiss://") as store:
...     docs = store.collection("docs", dim=3)
...     docs.upsert([{"id": "a", "vector": [1, 0, 0], "metadata": {"lang": "en"}}])
...     docs.search([1, 0, 0], k=1, filter={"lang": "en"})[0].id
1
'a'

Importing this package loads no backend SDK, no torch and no plotting library.
"""

from __future__ import annotations

from ._version import __version__
from .errors import (
    BackendError,
    BackendNotInstalledError,
    BackendTimeoutError,
    BackendUnavailableError,
    CollectionConfigError,
    CollectionNotFoundError,
    ConfigError,
    DimensionMismatchError,
    EmbeddingModelMismatchError,
    FilterError,
    InvalidInputError,
    StoreLockedError,
    UnknownBackendError,
    UnsupportedModeError,
    UnsupportedOperationError,
    VecstoreError,
)
from .registry import backends, connect, register_backend
from .store import Collection, VectorStore
from .types import Capabilities, CollectionSettings, Hit, Record

#: ``connect()`` returns a client; the abstract type is :class:`VectorStore`.
Client = VectorStore

_LAZY = {
    "open": ("vecstore.textsearch", "open_collection"),
    "copy_collection": ("vecstore.textsearch", "copy_collection"),
    "TextCollection": ("vecstore.textsearch", "TextCollection"),
    "ingest": ("vecstore.pipeline.ingest", "ingest"),
}


def __getattr__(name: str) -> object:
    """The pipeline and text search, imported on first use (they are heavier)."""
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        return getattr(importlib.import_module(module), attr)
    raise AttributeError(f"module 'vecstore' has no attribute {name!r}")

__all__ = [
    "BackendError",
    "BackendNotInstalledError",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "Capabilities",
    "Client",
    "Collection",
    "CollectionConfigError",
    "CollectionNotFoundError",
    "CollectionSettings",
    "ConfigError",
    "DimensionMismatchError",
    "EmbeddingModelMismatchError",
    "FilterError",
    "Hit",
    "InvalidInputError",
    "Record",
    "StoreLockedError",
    "UnknownBackendError",
    "UnsupportedModeError",
    "UnsupportedOperationError",
    "VecstoreError",
    "VectorStore",
    "__version__",
    "backends",
    "connect",
    "copy_collection",
    "ingest",
    "open",
    "register_backend",
]
