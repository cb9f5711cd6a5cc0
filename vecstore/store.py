"""The contract: :class:`VectorStore` (a connection) and :class:`Collection`.

Adapters subclass both and implement a few primitives (the ``_``-prefixed
abstract methods).  The public methods live here, once: they validate input,
fix dtype and shape, normalise cosine vectors, split batches, and wrap every
backend exception into the :mod:`vecstore.errors` tree.  Adapters never
re-validate, and they receive only well-formed data:

* ids are non-empty ``str``, unique within a batch;
* every string (id, text, metadata key and value) is valid Unicode without
  NUL (:func:`vecstore.types.string_problem`);
* vectors are C-contiguous ``float32`` of shape ``(n, dim)``, finite, and
  unit-length for ``cosine`` collections (normalised in float64, so tiny
  vectors keep unit length);
* metadata keys are portable (:data:`vecstore.types.KEY_RULE`); values are
  ``str``, ``int`` (within ±(2**53 - 1)), ``float`` (finite; ``-0.0`` becomes
  ``0.0``) or ``bool``;
* filters are parsed trees in negation normal form (:mod:`vecstore.filters`).
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import functools
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import chain
from typing import Any, ClassVar

import numpy as np

from . import _numeric, filters
from . import lexical as _lexical
from .errors import (
    BackendError,
    BackendUnavailableError,
    CollectionConfigError,
    CollectionNotFoundError,
    ConfigError,
    DimensionMismatchError,
    InvalidInputError,
    UnsupportedModeError,
    UnsupportedOperationError,
    VecstoreError,
)
from .types import (
    INDEX_TYPES,
    KEY_RULE,
    MAX_SAFE_INT,
    METRICS,
    SCHEMA_TYPES,
    Capabilities,
    CollectionSettings,
    Hit,
    Metadata,
    Record,
    check_collection_name,
    is_metadata_key,
    string_problem,
)
from .url import ConnectionSpec, parse_url

__all__ = ["Batch", "Collection", "VectorStore"]

# Exception class names that mean "could not reach the server", across the
# HTTP stacks the SDKs use (httpx, urllib3, requests, elastic-transport, grpc).
_UNREACHABLE_NAMES = {
    "ConnectError",
    "ConnectTimeout",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionTimeout",
    "NewConnectionError",
    "MaxRetryError",
    "ReadTimeout",
    "ReadTimeoutError",
    "RemoteProtocolError",
    "ResponseHandlingException",
    "TimeoutException",
    "TimeoutError",
    "TransportError",
    "ServerDisconnectedError",
}


@dataclasses.dataclass
class Batch:
    """A validated batch handed to :meth:`Collection._upsert`."""

    ids: list[str]
    vectors: np.ndarray
    texts: list[str | None]
    metadata: list[Metadata]

    def __len__(self) -> int:
        return len(self.ids)

    def records(self) -> Iterator[Record]:
        for i, id_ in enumerate(self.ids):
            yield Record(id_, self.vectors[i], self.texts[i], self.metadata[i])


class VectorStore(abc.ABC):
    """A connection to one backend, opened by :func:`vecstore.connect`.

    Construction only stores settings; the first call that needs the backend
    connects.  Use it as a context manager, or call :meth:`close`.
    """

    #: The backend's name, as in messages and ``vecstore backends``.
    backend: ClassVar[str] = ""
    #: URL modes this backend has: ``memory``, ``path``, ``server``.
    modes: ClassVar[tuple[str, ...]] = ("memory", "path", "server")
    #: Index types it builds, the first being its default.
    index_types: ClassVar[tuple[str, ...]] = ("flat",)
    #: Options a collection accepts, per index type (e.g. ``{"hnsw": {"m", ...}}``).
    index_options: ClassVar[Mapping[str, frozenset[str]]] = {}
    #: Per-query parameters :meth:`Collection.search` accepts (e.g. ``ef_search``).
    search_params: ClassVar[frozenset[str]] = frozenset()
    #: Connection options the constructor accepts besides the URL.
    connect_options: ClassVar[frozenset[str]] = frozenset()
    #: ``exact=True`` is honoured.
    exact_search: ClassVar[bool] = True
    #: A known defect of the backend's own ANN index: stored records it may never
    #: return to a search (``None``: none known).  Exact search still finds them.
    ann_unreachable: ClassVar[str | None] = None
    #: Server mode can run over the SDK's native async client (:mod:`vecstore.aio`); the adapter
    #: then makes that client in :meth:`_connect` when ``self._native_async`` is set.
    native_async: ClassVar[bool] = False
    #: Analyzers of the backend's lexical (keyword) index, the first being the default; empty
    #: where it has none, and ``mode="lexical"``/``"hybrid"`` raise UnsupportedOperationError.
    lexical_analyzers: ClassVar[tuple[str, ...]] = ()
    #: What ranks lexical search here, in words (engine, scoring, who tokenises).
    lexical_engine: ClassVar[str] = ""
    #: Why a backend without a lexical side has none (said by the error).
    no_lexical_reason: ClassVar[str] = "it has no keyword index vecstore can use"

    def __init__(self, spec: ConnectionSpec | str, **options: Any) -> None:
        if isinstance(spec, str):
            spec = parse_url(spec)
        if spec.mode not in self.modes:
            raise UnsupportedModeError(
                f"{self.backend} has no {spec.mode} mode ({spec.redacted}); its modes: {', '.join(self.modes)}"
            )
        # options come as keywords or as the URL's query parameters: a misspelt one is an error, not ignored
        unknown = (set(options) | set(spec.params)) - set(self.connect_options)
        if unknown:
            raise ConfigError(
                f"unknown option(s) for {self.backend}: {', '.join(sorted(unknown))}"
                f" (accepted: {', '.join(sorted(self.connect_options)) or 'none'}) [{spec.redacted}]"
            )
        self.spec = spec
        self.options = options
        self._lock = threading.RLock()
        self._connected = False
        self._closed = False
        self._native_async = False  # set by vecstore.aio before connecting

    # -- public API ---------------------------------------------------------

    @property
    def url(self) -> str:
        """The URL this store was opened with, with any secret removed."""
        return self.spec.redacted

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            persistent=self.spec.mode in ("path", "server"),
            index_types=self.index_types,
            exact_search=self.exact_search,
        )

    def collection(
        self,
        name: str,
        dim: int | None = None,
        metric: str | None = None,
        index: str | None = None,
        *,
        info: Mapping[str, Any] | None = None,
        lexical: str | bool | None = None,
        schema: Mapping[str, str | type] | None = None,
        **index_options: Any,
    ) -> Collection:
        """Open a collection, creating it when it does not exist.

        ``dim`` may be omitted to open an existing collection.  Giving a
        ``dim``, ``metric`` or ``index`` that differs from the existing
        collection's raises :class:`CollectionConfigError`.  ``metric`` defaults
        to ``cosine`` and ``index`` to the backend's first index type when
        creating.  ``info`` is stored with a new collection.  A new collection
        gets a lexical index (for ``mode="lexical"``/``"hybrid"`` searches)
        where the backend has one, with its default analyzer; ``lexical`` names
        another analyzer (:attr:`lexical_analyzers`), or ``False`` for none.

        ``schema`` (``{"year": "int", "lang": "str"}``, or the types ``int``, ``float``,
        ``str``, ``bool``) names metadata fields that every record of a new collection must
        hold, each with a value of exactly that type (an int is not a float, nor a bool an
        int): an upsert that breaks it raises :class:`InvalidInputError` and writes nothing.
        Other fields stay free.  Backends that store no types (Chroma) then need no type
        tags on those fields, which makes their reads and filters as fast as their own
        client's.  Opening an existing collection with another schema raises
        :class:`CollectionConfigError`.
        """
        check_collection_name(name)
        required = None if schema is None else _check_schema(schema)
        if dim is not None and (isinstance(dim, bool) or not isinstance(dim, int) or dim < 1):
            raise ConfigError(f"dim must be a positive int, got {dim!r}")
        if metric is not None and metric not in METRICS:
            raise ConfigError(f"unknown metric {metric!r}: use one of {', '.join(METRICS)}")
        if index is not None and index not in INDEX_TYPES:
            raise ConfigError(f"unknown index type {index!r}: use one of {', '.join(INDEX_TYPES)}")
        if index is not None and index not in self.index_types:
            raise UnsupportedOperationError(
                f"{self.backend} has no {index!r} index; it has {', '.join(self.index_types)}"
            )
        analyzer = self._lexical_choice(lexical)
        with self._lock:  # check-then-create is one step for the threads sharing this store
            existing = self._call("open collection", self._read_settings, name)
            if existing is not None:
                _check_same(existing, dim, metric, index, index_options)
                if required is not None and required != existing.schema:
                    raise CollectionConfigError(
                        f"collection {name!r} exists with schema={existing.schema!r}, not {required!r}")
                if (isinstance(lexical, str) and existing.lexical != analyzer) or (lexical is True and not existing.lexical):
                    raise CollectionConfigError(
                        f"collection {name!r} exists with lexical={existing.lexical!r}, not {analyzer!r}"
                    )
                return self._call("open collection", self._open_collection, existing)
            if dim is None:
                raise CollectionNotFoundError(
                    f"collection {name!r} does not exist in {self.backend} ({self.url}); pass dim= to create it"
                )
            settings = CollectionSettings(
                name=name,
                dim=dim,
                metric=metric or "cosine",
                index=index or self.index_types[0],
                index_options=dict(index_options),
                info=dict(info or {}),
                lexical=analyzer,
                schema=required or {},
            )
            self._check_index_options(settings)
            self._call("create collection", self._create_collection, settings)
            return self._call("open collection", self._open_collection, settings)

    def _lexical_choice(self, lexical: str | bool | None) -> str | None:
        """The analyzer a new collection's lexical index gets (``None``: no index)."""
        if lexical is False or (lexical is None and not self.lexical_analyzers):
            return None
        if not self.lexical_analyzers:
            raise UnsupportedOperationError(
                f"{self.backend} has no lexical index: {self.no_lexical_reason} [{self.url}]"
            )
        if lexical is None or lexical is True:
            return self.lexical_analyzers[0]
        if lexical not in self.lexical_analyzers:
            raise ConfigError(
                f"unknown analyzer {lexical!r} for {self.backend}: use one of {', '.join(self.lexical_analyzers)}"
            )
        return lexical

    def get_collection(self, name: str) -> Collection:
        """Open an existing collection; raises :class:`CollectionNotFoundError`."""
        return self.collection(name)

    def has_collection(self, name: str) -> bool:
        check_collection_name(name)
        return self._call("read collection", self._read_settings, name) is not None

    def list_collections(self) -> list[str]:
        return sorted(self._call("list collections", self._list_collections))

    def drop_collection(self, name: str) -> bool:
        """Delete a collection and its data; ``False`` if it did not exist."""
        check_collection_name(name)
        return bool(self._call("drop collection", self._drop_collection, name))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._connected:
                self._connected = False
                with self._guard("close"):
                    self._close()

    def __enter__(self) -> VectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.url}>"

    # -- machinery shared by every adapter -------------------------------------

    def _ensure_connected(self) -> None:
        if self._connected:
            return
        with self._lock:
            if self._closed:
                raise VecstoreError(f"{self.backend} store {self.url} is closed")
            if not self._connected:
                with self._guard("connect"):
                    self._connect()
                self._connected = True

    def _call(self, op: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Connect if needed, then run a primitive with its errors translated (what
        :meth:`_guard` does, written out: this runs once per query)."""
        if not self._connected:
            self._ensure_connected()
        try:
            return fn(*args)
        except VecstoreError:
            raise
        except Exception as exc:  # every SDK error becomes a vecstore error
            raise self._translate_error(exc, op) from exc

    @contextlib.contextmanager
    def _guard(self, op: str) -> Iterator[None]:
        try:
            yield
        except VecstoreError:
            raise
        except Exception as exc:  # every SDK error becomes a vecstore error
            raise self._translate_error(exc, op) from exc

    def _translate_error(self, exc: Exception, op: str) -> VecstoreError:
        """Map an SDK exception; adapters extend this for their own types."""
        detail = _scrub(str(exc) or type(exc).__name__, self.spec, self.options)
        if _unreachable(exc):
            return BackendUnavailableError(
                f"{op}: cannot reach the server ({type(exc).__name__}: {detail})",
                backend=self.backend,
                url=self.url,
            )
        return BackendError(f"{op} failed ({type(exc).__name__}: {detail})", backend=self.backend, url=self.url)

    def _check_index_options(self, settings: CollectionSettings) -> None:
        allowed = self.index_options.get(settings.index, frozenset())
        unknown = set(settings.index_options) - allowed
        if unknown:
            raise ConfigError(
                f"unknown option(s) for a {self.backend} {settings.index} index: {', '.join(sorted(unknown))}"
                f" (accepted: {', '.join(sorted(allowed)) or 'none'})"
            )

    # -- primitives ---------------------------------------------------------------

    @abc.abstractmethod
    def _connect(self) -> None:
        """Open the SDK client / files. Called once, lazily."""

    @abc.abstractmethod
    def _close(self) -> None:
        """Release the SDK client; persist what is pending."""

    @abc.abstractmethod
    def _read_settings(self, name: str) -> CollectionSettings | None:
        """The stored settings of a collection, or ``None`` if it does not exist."""

    @abc.abstractmethod
    def _create_collection(self, settings: CollectionSettings) -> None:
        """Create a collection that does not exist yet."""

    @abc.abstractmethod
    def _open_collection(self, settings: CollectionSettings) -> Collection:
        """A handle on an existing collection."""

    @abc.abstractmethod
    def _list_collections(self) -> list[str]: ...

    @abc.abstractmethod
    def _drop_collection(self, name: str) -> bool: ...

    @abc.abstractmethod
    def _write_settings(self, settings: CollectionSettings) -> None:
        """Persist changed settings (only ``info`` changes after creation)."""


def _check_same(
    existing: CollectionSettings,
    dim: int | None,
    metric: str | None,
    index: str | None,
    index_options: Mapping[str, Any],
) -> None:
    wanted = {"dim": dim, "metric": metric, "index": index}
    for key, value in wanted.items():
        have = getattr(existing, key)
        if value is not None and value != have:
            raise CollectionConfigError(
                f"collection {existing.name!r} exists with {key}={have!r}, not {value!r};"
                " drop it or use another name"
            )
    for key, value in index_options.items():
        if existing.index_options.get(key) != value:
            raise CollectionConfigError(
                f"collection {existing.name!r} exists with {key}={existing.index_options.get(key)!r}, not {value!r}"
            )


def _check_schema(schema: Mapping[str, str | type]) -> dict[str, str]:
    """``schema`` as field -> type name, or :class:`ConfigError` naming what is wrong."""
    if not isinstance(schema, Mapping):
        raise ConfigError(f"schema must be a dict of field -> type, not {type(schema).__name__}")
    names = {t: name for name, t in SCHEMA_TYPES.items()}
    out: dict[str, str] = {}
    for field, kind in schema.items():
        if not is_metadata_key(field):
            raise ConfigError(f"schema field {field!r} is not a valid metadata key: use {KEY_RULE}")
        name = names.get(kind) if isinstance(kind, type) else kind if isinstance(kind, str) and kind in SCHEMA_TYPES else None
        if name is None:
            raise ConfigError(f"schema field {field!r} has type {kind!r}: use one of {', '.join(SCHEMA_TYPES)}")
        out[field] = name
    return out


def _check_required(ids: list[str], metas: list[Metadata], schema: Mapping[str, str]) -> None:
    """Every record holds each schema field with a value of its exact type, or
    :class:`InvalidInputError` naming the first record that does not."""
    for field, name in schema.items():
        kind = SCHEMA_TYPES[name]
        if set(map(type, [m.get(field) for m in metas])) <= {kind}:  # the common case, a column at a time
            continue
        for id_, meta in zip(ids, metas):
            value = meta.get(field)
            if type(value) is not kind:
                got = "lacks it" if field not in meta else f"holds {type(value).__name__} {value!r}"
                raise InvalidInputError(f"record {_short(id_)}: the collection's schema requires metadata"
                                        f" {field!r} of type {name}; the record {got}")


def _unreachable(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from, means "server not reachable"."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names = {c.__name__ for c in type(current).__mro__}
        if names & _UNREACHABLE_NAMES or isinstance(current, (ConnectionError, TimeoutError)):
            return True
        current = current.__cause__ or current.__context__
    return False


#: Options that hold a secret, as URL query parameters or keyword options.
SECRET_OPTIONS = ("password", "api_key", "token")


def _scrub(text: str, spec: ConnectionSpec, options: Mapping[str, Any] | None = None) -> str:
    """``text`` without the URL's password or any secret option (from the URL or the keywords)."""
    secrets = [spec.password] + [spec.params.get(k) for k in SECRET_OPTIONS]
    secrets += [(options or {}).get(k) for k in SECRET_OPTIONS]
    for secret in secrets:
        if isinstance(secret, str) and secret:
            text = text.replace(secret, "***")
    return text[:500]


class Collection(abc.ABC):
    """A named set of records of one dimension and metric in one store."""

    #: Records per call to :meth:`_upsert`; adapters may compute it from the backend.
    max_batch_size: int = 1000
    #: Whether :meth:`_get` returns the found records in the order of its (distinct) ids,
    #: so that :meth:`get` need not reorder them.
    get_in_order: ClassVar[bool] = False

    def __init__(self, store: VectorStore, settings: CollectionSettings) -> None:
        self.store = store
        self.settings = settings

    # -- properties -------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def dim(self) -> int:
        return self.settings.dim

    @property
    def metric(self) -> str:
        return self.settings.metric

    @property
    def index(self) -> str:
        return self.settings.index

    @property
    def schema(self) -> dict[str, str]:
        """The metadata fields every record must hold, and their types (a copy; see
        :meth:`VectorStore.collection`)."""
        return dict(self.settings.schema)

    @property
    def info(self) -> dict[str, Any]:
        """Free-form settings stored with the collection (a copy)."""
        return dict(self.settings.info)

    def update_info(self, values: Mapping[str, Any]) -> None:
        """Merge ``values`` into :attr:`info` and persist it with the collection."""
        import json

        try:
            json.dumps(dict(values))
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"info must be JSON-serialisable: {exc}") from exc
        new = dataclasses.replace(self.settings, info={**self.settings.info, **values})
        self._call("update info", self.store._write_settings, new)
        self.settings = new

    @property
    def tunable_params(self) -> frozenset[str]:
        """Search parameters that change results on this collection (``ef_search`` on a
        flat index is accepted but does nothing, so it is not listed)."""
        return self.store.search_params

    def optimize(self) -> None:
        """Finish index building (merge segments, build graphs) so that searches
        use the finished index; a no-op where writes are indexed at once."""
        self._call("optimize", self._optimize)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} dim={self.dim} metric={self.metric} index={self.index} in {self.store.url}>"

    # -- writes -------------------------------------------------------------------

    def upsert(
        self,
        records: Iterable[Record | Mapping[str, Any]] | None = None,
        *,
        ids: Sequence[str] | None = None,
        vectors: Any = None,
        texts: Sequence[str | None] | None = None,
        metadata: Sequence[Mapping[str, Any] | None] | None = None,
        batch_size: int | None = None,
        progress: Callable[[int], None] | None = None,
    ) -> int:
        """Insert or overwrite records; returns how many were written.

        Give either ``records`` (``Record`` objects or dicts with ``id``,
        ``vector``, ``text``, ``metadata``) or columns (``ids`` and ``vectors``,
        a list or a 2-D numpy array, with optional ``texts`` and ``metadata``).
        The same id overwrites; within one call the last one wins.  The whole
        input is validated before anything is written.  ``progress`` is called
        with the number of records written after each batch.
        """
        batch, squared = self._validate(records, ids, vectors, texts, metadata)
        self._validate_batch(batch)  # backend limits, checked on the whole input before any write
        size = batch_size or self.max_batch_size
        if size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {size}")
        size = min(size, self.max_batch_size)
        for start in range(0, len(batch), size):
            vectors = batch.vectors[start : start + size]
            # cosine: normalised a batch at a time, not the whole input at once: a large upsert
            # holds one batch's copy of the vectors, not a second copy of all of them
            part = Batch(
                batch.ids[start : start + size],
                vectors if squared is None else np.ascontiguousarray(_numeric.normalize(vectors, squared[start : start + size])),
                batch.texts[start : start + size],
                batch.metadata[start : start + size],
            )
            self._call("upsert", self._upsert, part)
            if progress is not None:
                progress(len(part))
        return len(batch)

    def delete(self, ids: Iterable[str] | None = None, *, filter: Mapping[str, Any] | None = None) -> int:
        """Delete records by id, or every record matching ``filter``; returns how many existed."""
        if (ids is None) == (filter is None):
            raise InvalidInputError("delete() takes either ids or filter=, not both and not neither")
        if ids is not None:
            wanted = list(dict.fromkeys(_check_ids(ids)))  # _get takes distinct ids
            found = [r.id for r in self._call("delete", self._get, wanted, False)]
        else:
            node = filters.parse(filter)
            if node is None:
                raise InvalidInputError("delete(filter={}) would delete everything; use drop_collection()")
            found = [r.id for batch in self._call("delete", lambda: list(self._iterate(1000, node, False))) for r in batch]
        for start in range(0, len(found), self.max_batch_size):
            self._call("delete", self._delete, found[start : start + self.max_batch_size])
        return len(found)

    # -- reads ----------------------------------------------------------------------

    def search(
        self,
        vector: Any = None,
        k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        exact: bool = False,
        include_vectors: bool = False,
        text: str | None = None,
        mode: str = "dense",
        rrf_k: float = _lexical.DEFAULT_RRF_K,
        alpha: float | None = None,
        candidates: int | None = None,
        **params: Any,
    ) -> list[Hit]:
        """The ``k`` best records, best first (see :mod:`vecstore.types` for scores).

        ``mode="dense"`` (the default) ranks by ``vector``; ``"lexical"`` ranks by the
        backend's keyword index on ``text``; ``"hybrid"`` fuses both (``rrf_k``, or
        ``alpha``; see :mod:`vecstore.lexical`).  A filtered search returns ``k`` hits
        whenever ``k`` records match (lexical search: whenever ``k`` matching records hold
        a query term).  ``exact=True`` searches by brute force, or raises
        :class:`UnsupportedOperationError` where the backend cannot.
        """
        if mode == "dense" and text is None and alpha is None and candidates is None and rrf_k == 60:
            queries = self._queries(vector, single=True)
            return self._search_checked(queries, k, filter, exact, include_vectors, params)[0]
        texts = None if text is None else [text]
        given = None if vector is None else self._queries(vector, single=True)
        return self._search_modes(given, texts, k, filter, exact, include_vectors, params,
                                  mode, rrf_k, alpha, candidates)[0]

    def search_batch(
        self,
        vectors: Any = None,
        k: int = 10,
        *,
        filter: Mapping[str, Any] | None = None,
        exact: bool = False,
        include_vectors: bool = False,
        texts: Sequence[str] | None = None,
        mode: str = "dense",
        rrf_k: float = _lexical.DEFAULT_RRF_K,
        alpha: float | None = None,
        candidates: int | None = None,
        **params: Any,
    ) -> list[list[Hit]]:
        """:meth:`search` for several queries (vectors as a 2-D array or a list; ``texts`` a list)."""
        if mode == "dense" and texts is None and alpha is None and candidates is None and rrf_k == 60:
            queries = self._queries(vectors, single=False)
            return self._search_checked(queries, k, filter, exact, include_vectors, params)
        if isinstance(texts, str):
            raise InvalidInputError("texts= takes a list of strings; use search(text=...) for one")
        given = None if vectors is None else self._queries(vectors, single=False)
        return self._search_modes(given, None if texts is None else list(texts), k, filter, exact,
                                  include_vectors, params, mode, rrf_k, alpha, candidates)

    def get(self, ids: Iterable[str], *, include_vectors: bool = True) -> list[Record]:
        """The records with these ids, in the order asked; missing ids are left out."""
        wanted = list(dict.fromkeys(_check_ids(ids)))
        records = self._call("get", self._get, wanted, include_vectors)
        if self.get_in_order:
            return list(records)
        found = {r.id: r for r in records}
        return [found[i] for i in wanted if i in found]

    def count(self, filter: Mapping[str, Any] | None = None) -> int:
        return int(self._call("count", self._count, filters.parse(filter)))

    def iterate(
        self,
        batch_size: int = 1000,
        *,
        filter: Mapping[str, Any] | None = None,
        include_vectors: bool = True,
    ) -> Iterator[list[Record]]:
        """Every record (matching ``filter``), in batches of at most ``batch_size``."""
        if batch_size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {batch_size}")
        node = filters.parse(filter)
        self.store._ensure_connected()
        it = iter(self._iterate(batch_size, node, include_vectors))
        while True:
            with self.store._guard("iterate"):
                batch = next(it, None)
            if batch is None:
                return
            if batch:
                yield batch

    # -- validation -----------------------------------------------------------------

    def _call(self, op: str, fn: Callable[..., Any], *args: Any) -> Any:
        return self.store._call(f"{op} on collection {self.name!r}", fn, *args)

    @functools.cached_property
    def _search_op(self) -> str:
        """What a failed search says it was: made once, as a search through :meth:`_call` formatted
        it and went through one more call each time (0.4 µs a query)."""
        return f"search on collection {self.name!r}"

    def _search_checked(
        self,
        queries: np.ndarray,
        k: int,
        filter: Mapping[str, Any] | None,
        exact: bool,
        include_vectors: bool,
        params: Mapping[str, Any],
    ) -> list[list[Hit]]:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive int, got {k!r}")
        node = filters.parse(filter)
        unknown = set(params) - set(self.store.search_params) if params else None
        if unknown:
            raise InvalidInputError(
                f"unknown search parameter(s) for {self.store.backend}: {', '.join(sorted(unknown))}"
                f" (accepted: {', '.join(sorted(self.store.search_params)) or 'none'})"
            )
        if exact and not self.store.exact_search:
            raise UnsupportedOperationError(f"{self.store.backend} cannot search exactly (exact=True)")
        if queries.shape[0] == 0:
            return []
        return self.store._call(self._search_op, self._search, queries, k, node, bool(exact), include_vectors,
                                dict(params))

    def _search_modes(
        self,
        queries: np.ndarray | None,
        texts: list[str] | None,
        k: int,
        filter: Mapping[str, Any] | None,
        exact: bool,
        include_vectors: bool,
        params: Mapping[str, Any],
        mode: str,
        rrf_k: float,
        alpha: float | None,
        candidates: int | None,
    ) -> list[list[Hit]]:
        """Lexical and hybrid search: inputs checked, then the adapter's primitives."""
        _lexical.check_mode(mode, rrf_k, alpha, candidates)
        if mode != "hybrid" and (alpha is not None or candidates is not None or rrf_k != _lexical.DEFAULT_RRF_K):
            raise InvalidInputError("rrf_k, alpha and candidates apply to mode='hybrid' only")
        needs = {"dense": ("vector",), "lexical": ("text",), "hybrid": ("vector", "text")}[mode]
        given = {"vector": queries is not None, "text": texts is not None}
        for what, present in given.items():
            if present and what not in needs:
                raise InvalidInputError(f"mode={mode!r} takes no {what}; it searches by {' and '.join(needs)}")
            if not present and what in needs:
                raise InvalidInputError(f"mode={mode!r} needs a query {what} ({what}=)")
        if texts is not None:
            for i, text in enumerate(texts):
                if not isinstance(text, str):
                    raise InvalidInputError(f"query text {i} must be a str, not {type(text).__name__}")
                problem = string_problem(text)
                if problem:
                    raise InvalidInputError(f"query text {i} {problem}")
        if queries is not None and texts is not None and len(queries) != len(texts):
            raise InvalidInputError(f"{len(queries)} query vectors but {len(texts)} query texts")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InvalidInputError(f"k must be a positive int, got {k!r}")
        if mode != "dense":
            self._check_lexical()
        if mode == "dense":
            assert queries is not None
            return self._search_checked(queries, k, filter, exact, include_vectors, params)
        node = filters.parse(filter)
        assert texts is not None
        if not texts:
            return []
        if mode == "lexical":
            self._search_checked(np.empty((0, self.dim), np.float32), k, filter, exact, include_vectors, params)
            if params:
                raise InvalidInputError(f"search parameters {sorted(params)} steer vector search, not lexical")
            return self._call("lexical search", self._lexical, texts, k, node, include_vectors)
        assert queries is not None
        self._search_checked(queries[:0], k, filter, exact, include_vectors, params)  # the dense side's checks
        depth = max(k, candidates or _lexical.DEFAULT_CANDIDATES)
        return self._call("hybrid search", self._hybrid, queries, texts, k, node, bool(exact), include_vectors,
                          dict(params), float(rrf_k), alpha, depth)

    def _check_lexical(self) -> None:
        store = self.store
        if not store.lexical_analyzers:
            raise UnsupportedOperationError(
                f"{store.backend} has no lexical search: {store.no_lexical_reason} [{store.url}]"
            )
        if self.settings.lexical is None:
            raise UnsupportedOperationError(
                f"collection {self.name!r} in {store.backend} has no lexical index (created with lexical=False,"
                " or before vecstore made one); copy it into a new collection to get one"
            )

    def _queries(self, vectors: Any, single: bool) -> np.ndarray:
        if single and type(vectors) is np.ndarray and vectors.shape == (self.dim,) and vectors.dtype == np.float32:
            return self._one_query(vectors)
        try:
            arr = np.asarray(vectors, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"query vector(s) must be numbers: {exc}") from exc
        if single:
            if arr.ndim != 1:
                raise InvalidInputError(f"search() takes one vector (1-D), got shape {arr.shape}; use search_batch()")
            arr = arr[None, :]
        elif arr.ndim == 1 and arr.size == 0:
            arr = arr.reshape(0, self.dim)
        if arr.ndim != 2:
            raise InvalidInputError(f"query vectors must be 2-D (n, {self.dim}), got shape {arr.shape}")
        if arr.shape[1] != self.dim:
            raise DimensionMismatchError(
                f"query has dimension {arr.shape[1]}, collection {self.name!r} has {self.dim}"
            )
        # cosine: both checks from the squared norms normalize() needs anyway (as upsert's vectors)
        squared = _numeric.squared_norms(arr) if self.metric == "cosine" else None
        if not (np.isfinite(arr) if squared is None else np.isfinite(squared)).all():
            raise InvalidInputError("query vector contains NaN or infinity")
        if squared is not None:
            if (squared == 0.0).any():
                raise InvalidInputError("a zero query vector has no cosine similarity")
            arr = _numeric.normalize(arr, squared)
        return np.ascontiguousarray(arr)

    def _one_query(self, vector: np.ndarray) -> np.ndarray:
        """:meth:`_queries` for the common single query (a float32 vector of the right size),
        its checks taken from the squared norm that :func:`_numeric.normalize` needs (this runs
        once per query): it is finite exactly when every value is and zero exactly when the
        vector is (:func:`_numeric.squared_norm`)."""
        row = np.ascontiguousarray(vector.reshape(1, -1))
        squared = _numeric.squared_norm(row[0])
        if not math.isfinite(squared):
            raise InvalidInputError("query vector contains NaN or infinity")
        if self.metric != "cosine":
            return row
        if squared == 0.0:
            raise InvalidInputError("a zero query vector has no cosine similarity")
        norm = math.sqrt(squared)
        if 1e-18 <= norm <= 1e18:  # as normalize(): the quotient stays in float32's normal range
            return row / norm  # a Python float divides a float32 array as float32 (NEP 50), as there
        return (row.astype(np.float64) / norm).astype(np.float32)

    def _validate(
        self,
        records: Iterable[Record | Mapping[str, Any]] | None,
        ids: Sequence[str] | None,
        vectors: Any,
        texts: Sequence[str | None] | None,
        metadata: Sequence[Mapping[str, Any] | None] | None,
    ) -> tuple[Batch, np.ndarray | None]:
        """The checked input (vectors float32, as given), and for cosine each vector's squared
        norm, which normalises it (see :meth:`_vectors`)."""
        if records is not None:
            if ids is not None or vectors is not None or texts is not None or metadata is not None:
                raise InvalidInputError("give either records or ids=/vectors=/texts=/metadata=, not both")
            recs = [Record.coerce(r) for r in records]
            ids = [r.id for r in recs]
            texts = [r.text for r in recs]
            metadata = [r.metadata for r in recs]
            vectors = [r.vector for r in recs]
        if ids is None or vectors is None:
            raise InvalidInputError("upsert() needs records, or ids= and vectors=")
        ids = list(ids)
        n = len(ids)
        texts = [None] * n if texts is None else list(texts)
        metadata = [None] * n if metadata is None else list(metadata)
        if not (len(texts) == len(metadata) == n):
            raise InvalidInputError(f"ids ({n}), texts ({len(texts)}) and metadata ({len(metadata)}) differ in length")
        arr, squared = self._vectors(vectors, ids)
        _check_ids(ids)
        if not _plain_strings([t for t in texts if t is not None]):
            for id_, text in zip(ids, texts):
                _check_text(id_, text)
        metas = _plain_metadata(metadata)
        if metas is None:
            metas = [_check_metadata(ids[i], metadata[i]) for i in range(n)]
        if self.settings.schema:
            _check_required(ids, metas, self.settings.schema)
        # the same id twice in one call: the last one wins, as in sequential upserts
        if len(set(ids)) != n:
            keep = sorted({id_: i for i, id_ in enumerate(ids)}.values())
            return (Batch([ids[i] for i in keep], arr[keep], [texts[i] for i in keep], [metas[i] for i in keep]),
                    None if squared is None else squared[keep])
        return Batch(ids, arr, texts, metas), squared

    def _vectors(self, vectors: Any, ids: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """The vectors as one checked float32 array (not yet normalised), and for cosine their
        squared norms, from which the checks for non-finite and zero vectors come too."""
        n = len(ids)
        if isinstance(vectors, np.ndarray):
            arr = vectors
        else:
            rows = list(vectors)
            if len(rows) != n:
                raise InvalidInputError(f"{n} ids but {len(rows)} vectors")
            for i, row in enumerate(rows):
                if row is None:
                    raise InvalidInputError(f"record {ids[i]!r} has no vector")
                length = np.shape(row)
                if length != (self.dim,):
                    raise DimensionMismatchError(
                        f"record {ids[i]!r}: vector has shape {length}, collection {self.name!r} has dim {self.dim}"
                    )
            arr = np.asarray(rows) if rows else np.empty((0, self.dim))
        try:
            arr = np.asarray(arr, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"vectors must be numbers: {exc}") from exc
        if arr.ndim != 2 or arr.shape[0] != n:
            raise InvalidInputError(f"vectors must have shape ({n}, {self.dim}), got {arr.shape}")
        if arr.shape[1] != self.dim:
            raise DimensionMismatchError(f"vectors have dimension {arr.shape[1]}, collection {self.name!r} has {self.dim}")
        cosine = self.metric == "cosine" and n > 0
        # cosine: both checks from the squared norms normalize() needs anyway (one pass, not three)
        squared = _numeric.squared_norms(arr) if cosine else None
        finite = np.isfinite(squared) if squared is not None else np.isfinite(arr).all(axis=1)
        if not finite.all():
            bad = ids[int(np.argmin(finite))]
            raise InvalidInputError(f"record {bad!r}: vector contains NaN or infinity")
        if squared is not None:
            zero = squared == 0.0
            if zero.any():
                bad = ids[int(np.argmax(zero))]
                raise InvalidInputError(f"record {_short(bad)}: a zero vector has no cosine similarity")
            return arr, squared  # normalize() makes each batch's contiguous copy
        return np.ascontiguousarray(arr, dtype=np.float32), None

    # -- helpers adapters may use -------------------------------------------------

    def _search_option(self, params: Mapping[str, Any], name: str, default: Any = None) -> Any:
        """A per-query parameter, else the collection's option of that name, else ``default``."""
        value = params.get(name)
        if value is None:
            value = self.settings.index_options.get(name, default)
        return value

    def _scan_search(
        self, queries: np.ndarray, k: int, node: filters.Node | None, include_vectors: bool
    ) -> list[list[Hit]]:
        """Exact search by reading every (matching) record back: for backends
        without a brute-force mode of their own.  Costs one full scan."""
        best: list[list[tuple[float, Record]]] = [[] for _ in range(len(queries))]
        for batch in self._iterate(4096, node, True):
            if not batch:
                continue
            mat = np.stack([np.asarray(r.vector, dtype=np.float32) for r in batch])
            sc = _numeric.scores(self.metric, queries, mat)
            for qi, row in enumerate(sc):
                cand = best[qi] + [(float(row[j]), batch[j]) for j in _numeric.topk(row, k)]
                cand.sort(key=lambda t: -t[0])
                best[qi] = cand[:k]
        return [
            [Hit(r.id, s, r.text, r.metadata, np.asarray(r.vector, dtype=np.float32) if include_vectors else None)
             for s, r in row]
            for row in best
        ]

    # -- primitives -----------------------------------------------------------------

    def _validate_batch(self, batch: Batch) -> None:  # noqa: B027 - optional primitive
        """Raise :class:`InvalidInputError` for what this backend cannot store (before any write)."""

    def _optimize(self) -> None:  # noqa: B027 - optional primitive, a no-op by default
        """Override where the backend builds indexes in the background."""

    @abc.abstractmethod
    def _upsert(self, batch: Batch) -> None:
        """Write a validated batch; existing ids are overwritten."""

    @abc.abstractmethod
    def _search(
        self,
        queries: np.ndarray,
        k: int,
        filter: filters.Node | None,
        exact: bool,
        include_vectors: bool,
        params: dict[str, Any],
    ) -> list[list[Hit]]:
        """One list of at most ``k`` hits per query row, best first, scores per the contract."""

    def _lexical(self, texts: list[str], k: int, filter: filters.Node | None,
                 include_vectors: bool) -> list[list[Hit]]:
        """Per query text, at most ``k`` hits ranked by the backend's keyword index (its BM25
        score as ``score``), only records holding a query term; for backends with a lexical side."""
        raise UnsupportedOperationError(f"{self.store.backend} has no lexical search")

    def _hybrid(self, queries: np.ndarray, texts: list[str], k: int, filter: filters.Node | None, exact: bool,
                include_vectors: bool, params: dict[str, Any], rrf_k: float, alpha: float | None,
                depth: int) -> list[list[Hit]]:
        """Both rankings, ``depth`` deep, fused (:func:`vecstore.lexical.fuse`).  Adapters whose
        engine fuses natively with the same formula may override it."""
        dense = self._search(queries, depth, filter, exact, include_vectors, params)
        lexical = self._lexical(texts, depth, filter, include_vectors)
        return [[dataclasses.replace(hit, score=score) for hit, score in _lexical.fuse(d, lx, k, rrf_k, alpha)]
                for d, lx in zip(dense, lexical)]

    @abc.abstractmethod
    def _get(self, ids: list[str], include_vectors: bool) -> list[Record]:
        """The records that exist among ``ids``, in any order."""

    @abc.abstractmethod
    def _delete(self, ids: list[str]) -> None:
        """Delete these (existing) ids."""

    @abc.abstractmethod
    def _count(self, filter: filters.Node | None) -> int: ...

    @abc.abstractmethod
    def _iterate(self, batch_size: int, filter: filters.Node | None, include_vectors: bool) -> Iterable[list[Record]]:
        """Every record matching ``filter``, in batches."""


def _check_id(id_: Any) -> str:
    if not isinstance(id_, str) or not id_:
        raise InvalidInputError(f"record ids must be non-empty strings, got {id_!r}")
    problem = string_problem(id_)
    if problem:
        raise InvalidInputError(f"record id {_short(id_)} {problem}")
    return id_


def _short(text: str) -> str:
    """A string for an error message: ``repr`` (escapes surrogates and NUL), cut at 60 characters."""
    return repr(text) if len(text) <= 60 else repr(text[:60]) + "…"


def _check_ids(ids: Iterable[str]) -> list[str]:
    if isinstance(ids, str):
        raise InvalidInputError("pass a list of ids, not a single string")
    ids = list(ids)
    if not (_plain_strings(ids) and all(ids)):
        for id_ in ids:
            _check_id(id_)
    return ids


def _plain_strings(values: list[Any]) -> bool:
    """Whether every value is an ASCII ``str`` without NUL, checked in one pass in C
    (the common case; anything else goes through the per-value checks)."""
    try:
        joined = "".join(values)
    except TypeError:
        return False
    return joined.isascii() and "\x00" not in joined


def _check_text(id_: str, text: Any) -> None:
    if text is None:
        return
    if not isinstance(text, str):
        raise InvalidInputError(f"record {_short(id_)}: text must be a str or None, not {type(text).__name__}")
    problem = string_problem(text)
    if problem:
        raise InvalidInputError(f"record {_short(id_)}: text {problem}")


_PLAIN_KINDS = frozenset({str, int, bool})


def _plain_metadata(metadata: list[Any]) -> list[Metadata] | None:
    """Copies of every record's metadata when all of it is plainly valid, checked a column at a
    time in C (the common case: dicts of known keys holding ASCII strings, ints within ±(2**53 - 1)
    and bools); ``None`` sends the batch through :func:`_check_metadata` record by record, which
    accepts the rest (floats, numpy scalars, other mappings) and names what it refuses."""
    if not set(map(type, metadata)) <= {dict, type(None)}:
        return None
    present = metadata if all(metadata) else [m for m in metadata if m]
    if not set().union(*present) <= _GOOD_KEYS:
        return None
    values = list(chain.from_iterable(map(dict.values, present)))
    kinds = set(map(type, values))
    if not kinds <= _PLAIN_KINDS:
        return None
    if int in kinds:
        ints = values if kinds == {int} else [v for v in values if type(v) is int]
        if min(ints) < -MAX_SAFE_INT or max(ints) > MAX_SAFE_INT:
            return None
    if str in kinds and not _plain_strings(values if kinds == {str} else [v for v in values if type(v) is str]):
        return None
    return [dict(m) if m else {} for m in metadata]


def _check_metadata(id_: str, meta: Mapping[str, Any] | None) -> Metadata:
    if meta is None:
        return {}
    if not isinstance(meta, Mapping):
        raise InvalidInputError(f"record {id_!r}: metadata must be a dict, not {type(meta).__name__}")
    out: Metadata = {}
    for key, value in meta.items():
        if key not in _GOOD_KEYS:
            if not is_metadata_key(key):
                raise InvalidInputError(f"record {_short(id_)}: invalid metadata key {key!r}: use {KEY_RULE}")
            if len(_GOOD_KEYS) < 10_000:
                _GOOD_KEYS.add(key)
        kind = type(value)  # exact types first: this runs once per value of every upsert
        if kind is str:
            if not value.isascii() or "\x00" in value:
                problem = string_problem(value)
                if problem:
                    raise InvalidInputError(f"record {_short(id_)}: metadata {key!r} {problem}")
            out[key] = value
        elif kind is int:
            if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
                raise InvalidInputError(_big_int(id_, key, value))
            out[key] = value
        elif kind is float:
            if not math.isfinite(value):
                raise InvalidInputError(f"record {_short(id_)}: metadata {key!r} is {value}, not a finite number")
            out[key] = value + 0.0  # -0.0 is stored as 0.0 everywhere (Chroma cannot keep the sign)
        elif kind is bool:
            out[key] = value
        else:
            out[key] = _check_other_value(id_, key, value)
    return out


#: Metadata keys already checked against the rule (bounded; keys repeat across records).
_GOOD_KEYS: set[str] = set()


def _big_int(id_: str, key: str, value: int) -> str:
    return (f"record {_short(id_)}: metadata {key!r}={value} is beyond ±(2**53 - 1), where some backends"
            " compare integers as doubles; store it as a string or a float")


def _check_other_value(id_: str, key: str, value: Any) -> Any:
    """Subclasses and numpy scalars: the slow path of :func:`_check_metadata`."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        return _check_metadata(id_, {key: str(value)})[key]
    if isinstance(value, (int, np.integer)):
        return _check_metadata(id_, {key: int(value)})[key]
    if isinstance(value, (float, np.floating)):
        return _check_metadata(id_, {key: float(value)})[key]
    raise InvalidInputError(
        f"record {_short(id_)}: metadata {key!r} has type {type(value).__name__};"
        " values must be str, int, float or bool"
    )
