"""The one error hierarchy of vecstore.

Every adapter raises these, chained ``from`` the SDK's own exception, so the
same mistake raises the same error on every backend::

    VecstoreError
    ├── ConfigError (ValueError)                 bad URL, option or collection name
    │   ├── UnknownBackendError                  no backend registered for a URL scheme
    │   └── UnsupportedModeError                 the backend lacks that mode (e.g. a server for faiss)
    ├── BackendNotInstalledError (ImportError)   the backend's SDK is missing: names the pip extra
    ├── InvalidInputError (ValueError)           a record, vector or argument is malformed
    │   ├── DimensionMismatchError               vector length differs from the collection's dim
    │   └── FilterError                          filter syntax, operator or value type
    ├── CollectionNotFoundError (LookupError)
    ├── CollectionConfigError (ValueError)       opening a collection with other dim / metric / index
    ├── EmbeddingModelMismatchError (ValueError) the collection was embedded with another model
    ├── UnsupportedOperationError (NotImplementedError)
    ├── StoreLockedError                         the embedded store is open in another client
    └── BackendError (RuntimeError)              the backend failed; ``backend`` and ``url`` say where
        ├── BackendUnavailableError (ConnectionError)  server down, refused or timed out
        └── BackendTimeoutError (TimeoutError)   the server cancelled a statement (its timeout)

Messages carry the backend name and the URL with any password or API key
removed; they never contain a secret.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "BackendError",
    "BackendNotInstalledError",
    "BackendTimeoutError",
    "BackendUnavailableError",
    "CollectionConfigError",
    "CollectionNotFoundError",
    "ConfigError",
    "DimensionMismatchError",
    "EmbeddingModelMismatchError",
    "FilterError",
    "InvalidInputError",
    "StoreLockedError",
    "UnknownBackendError",
    "UnsupportedModeError",
    "UnsupportedOperationError",
    "VecstoreError",
]


class VecstoreError(Exception):
    """Base class of every error vecstore raises."""


class ConfigError(VecstoreError, ValueError):
    """A URL, an option or a collection name is not valid."""


class UnknownBackendError(ConfigError):
    """No backend is registered for the URL's scheme."""


class UnsupportedModeError(ConfigError):
    """The backend has no such mode (for example a server URL for Faiss)."""


class BackendNotInstalledError(VecstoreError, ImportError):
    """The backend is known but its SDK is not installed."""


class InvalidInputError(VecstoreError, ValueError):
    """A record, vector or argument is malformed; nothing was written."""


class DimensionMismatchError(InvalidInputError):
    """A vector's length differs from the collection's dimension."""


class FilterError(InvalidInputError):
    """A filter is malformed, or uses an operator the backend cannot express."""


class CollectionNotFoundError(VecstoreError, LookupError):
    """The collection does not exist (and no ``dim`` was given to create it)."""


class CollectionConfigError(VecstoreError, ValueError):
    """An existing collection was opened with a different dim, metric or index."""


class EmbeddingModelMismatchError(VecstoreError, ValueError):
    """The collection holds vectors of another embedding model."""


class UnsupportedOperationError(VecstoreError, NotImplementedError):
    """The backend cannot do this (for example exact search on an HNSW-only store)."""


class StoreLockedError(VecstoreError):
    """An embedded store directory is already open in another client."""


class BackendError(VecstoreError, RuntimeError):
    """The backend failed. ``backend`` and ``url`` (redacted) say which."""

    def __init__(self, message: str, *, backend: str = "", url: str = "") -> None:
        where = ", ".join(p for p in (backend, url) if p)
        super().__init__(f"{message} [{where}]" if where else message)
        self.backend = backend
        self.url = url

    def __reduce__(self) -> tuple[Any, ...]:
        # keeps backend and url when the error crosses a process (a Ray worker, a client process)
        return _rebuilt, (type(self), str(self), self.backend, self.url)


def _rebuilt(cls: type[BackendError], text: str, backend: str, url: str) -> BackendError:
    err = cls(text)  # the text says backend and url already
    err.backend, err.url = backend, url
    return err


class BackendUnavailableError(BackendError, ConnectionError):
    """The backend's server could not be reached, refused, or timed out."""


class BackendTimeoutError(BackendError, TimeoutError):
    """The server cancelled a statement that ran past its timeout (e.g. PostgreSQL's
    ``statement_timeout``); the server is up, the statement wrote nothing."""
