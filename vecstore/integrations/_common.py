"""What the framework integrations share: metadata that survives the round trip, relevance
scores in [0, 1], and opening a store from a URL.

**Metadata.** Frameworks allow any JSON-like metadata; the contract stores scalar values under
portable keys (:data:`vecstore.types.KEY_RULE`).  So each metadata dict is split: values the
contract stores natively (``str``, ``bool``, ``int`` within ±(2**53 - 1), finite ``float``,
under a portable key) are stored as they are and can be filtered on; everything else — ``None``,
lists, dicts, big integers, keys with other characters — is kept as JSON under one reserved key,
``_vs_json``, and merged back on read: nothing is lost, but those values cannot be filtered on.
Keys that start with ``_vs`` are reserved for vecstore and also go to the JSON part.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import InvalidInputError
from ..registry import connect
from ..store import VectorStore
from ..types import MAX_SAFE_INT, is_metadata_key, string_problem

#: The reserved metadata key holding what the contract cannot store natively, as JSON.
JSON_KEY = "_vs_json"
RESERVED_PREFIX = "_vs"
#: A filter no record matches (no record has this reserved key).
NOTHING = {"_vs_never": True}


def _native(key: Any, value: Any) -> bool:
    if not isinstance(key, str) or not is_metadata_key(key) or key.startswith(RESERVED_PREFIX):
        return False
    kind = type(value)
    if kind is bool or kind is str:
        return kind is bool or string_problem(value) is None
    if kind is int:
        return -MAX_SAFE_INT <= value <= MAX_SAFE_INT
    if kind is float:
        return math.isfinite(value)
    return False


def to_store_metadata(meta: Mapping[str, Any] | None, *, record: str = "") -> dict[str, Any]:
    """A framework's metadata as the contract's: native values as they are, the rest as JSON."""
    if not meta:
        return {}
    flat: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in meta.items():
        if _native(key, value):
            flat[key] = value
        else:
            if not isinstance(key, str):
                raise InvalidInputError(f"record {record!r}: metadata keys must be strings, got {key!r}")
            extra[key] = value
    if extra:
        try:
            flat[JSON_KEY] = json.dumps(extra, allow_nan=False, ensure_ascii=False)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                f"record {record!r}: metadata {sorted(extra)} cannot be stored: values must be JSON ({exc})"
            ) from exc
    return flat


def from_store_metadata(meta: Mapping[str, Any] | None) -> dict[str, Any]:
    """The framework's metadata back: reserved keys removed, the JSON part merged in."""
    if not meta:
        return {}
    out = {k: v for k, v in meta.items() if not k.startswith(RESERVED_PREFIX)}
    raw = meta.get(JSON_KEY)
    if isinstance(raw, str):
        out.update(json.loads(raw))
    return out


def relevance(metric: str, score: float) -> float:
    """The contract's score as a relevance in [0, 1] (1 = the same direction).

    * cosine and dot: ``(1 + s) / 2`` — on unit vectors, cosine similarity mapped from [-1, 1];
    * l2 (score ``-d``): ``1 - d² / 4`` — on unit vectors ``d² = 2 - 2·cos``, so the same value
      as cosine gives for the same pair.

    Vectors that are not unit length (dot, l2) can fall outside [0, 1]; the result is clipped.
    """
    if metric == "l2":
        value = 1.0 - (score * score) / 4.0
    else:
        value = (1.0 + score) / 2.0
    return min(1.0, max(0.0, value))


def new_ids(ids: Sequence[str | None] | None, n: int) -> list[str]:
    """The ids given, with a random UUID for each missing one."""
    if ids is None:
        return [str(uuid.uuid4()) for _ in range(n)]
    ids = list(ids)
    if len(ids) != n:
        raise InvalidInputError(f"{n} items but {len(ids)} ids")
    return [i if i is not None else str(uuid.uuid4()) for i in ids]


def open_store(url: str | VectorStore, options: Mapping[str, Any]) -> tuple[VectorStore, bool]:
    """``(store, owned)``: a store opened from a URL is closed by the integration; one passed in is not."""
    if isinstance(url, VectorStore):
        if options:
            raise InvalidInputError(f"connection options {sorted(options)} given with an open store")
        return url, False
    return connect(url, **options), True


class LazyCollection:
    """A named collection that is opened when it exists and created on the first write, with
    the dimension of the first vectors written (frameworks learn it from their embedder)."""

    def __init__(self, store: VectorStore, name: str, metric: str = "cosine", index: str | None = None,
                 index_options: Mapping[str, Any] | None = None, dim: int | None = None) -> None:
        from ..types import check_collection_name

        self.store = store
        self.name = check_collection_name(name)
        self.metric = metric
        self.index = index
        self.index_options = dict(index_options or {})
        #: the schema of the collection last opened: one dropped by ``clear()`` is made again with it
        self.schema: dict[str, str] = {}
        self._col: Any = None
        self._async: AsyncLazyCollection | None = None
        if dim is not None:
            self.ensure(dim)

    def get(self) -> Any:
        """The collection, or ``None`` while it does not exist."""
        if self._col is None and self.store.has_collection(self.name):
            self._col = self.store.collection(self.name)
            self.schema = self._col.schema
        return self._col

    def ensure(self, dim: int) -> Any:
        """The collection, created with ``dim`` if needed (an existing one must have that ``dim``)."""
        if self._col is None:
            self._col = self.store.collection(self.name, dim=dim, metric=self.metric, index=self.index,
                                              schema=self.schema or None, **self.index_options)
            self.schema = self._col.schema
        elif self._col.dim != dim:
            from ..errors import DimensionMismatchError

            raise DimensionMismatchError(f"vectors have dimension {dim}, collection {self.name!r} has {self._col.dim}")
        return self._col

    @property
    def metric_in_use(self) -> str:
        """The open collection's metric, else the one it would be created with (no request)."""
        for col in (self._col, self._async._col if self._async is not None else None):
            if col is not None:
                return str(col.metric)
        return self.metric

    def drop(self) -> bool:
        self.get()  # its schema, for the collection the next write makes
        self._col = None
        if self._async is not None:
            self._async._col = None
        return self.store.drop_collection(self.name)

    @property
    def aio(self) -> AsyncLazyCollection:
        """The same collection for coroutines (:mod:`vecstore.aio`; a server's native async client)."""
        if self._async is None:
            self._async = AsyncLazyCollection(self)
        return self._async

    def close(self) -> None:
        """Forget the async view.  Its own connection (a server's native async client) belongs to
        the event loop that opened it and is closed by ``await aio.close()`` from that loop;
        here it is only dropped (its sockets close when it is collected)."""
        self._async = None


class AsyncLazyCollection:
    """:class:`LazyCollection` through :func:`vecstore.aio.view`: its async twin."""

    def __init__(self, lazy: LazyCollection) -> None:
        self.lazy = lazy
        self._store: Any = None
        self._col: Any = None
        self._loop = 0

    def _view(self) -> Any:
        import asyncio

        loop = id(asyncio.get_running_loop())
        if self._store is not None and self._store.native and self._loop != loop:
            self._store = self._col = None  # a native client belongs to the loop that opened it
        if self._store is None:
            from .. import aio

            self._store = aio.view(self.lazy.store)
            self._loop = loop
        return self._store

    async def get(self) -> Any:
        store = self._view()  # first: a new event loop gets a new native client, and forgets _col
        if self._col is None:
            if await store.has_collection(self.lazy.name):
                self._col = await store.collection(self.lazy.name)
                self.lazy.schema = self._col.schema
        return self._col

    async def ensure(self, dim: int) -> Any:
        store = self._view()
        if self._col is None:
            lazy = self.lazy
            self._col = await store.collection(lazy.name, dim, lazy.metric, lazy.index, schema=lazy.schema or None,
                                               **lazy.index_options)
            lazy.schema = self._col.schema
        elif self._col.dim != dim:
            from ..errors import DimensionMismatchError

            raise DimensionMismatchError(f"vectors have dimension {dim}, collection {self.lazy.name!r} has {self._col.dim}")
        return self._col

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None
            self._col = None
