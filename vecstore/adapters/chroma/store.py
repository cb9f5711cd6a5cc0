"""Chroma adapter: ``chroma://`` (in process, in memory), ``chroma:///dir``
(in process, persisted) and ``chroma://host:port`` / ``chroma+https://...``
(a Chroma server; ``token=`` or ``headers=`` for auth, ``timeout=`` seconds).

Chroma's in-process clients share one system per process, so each
``chroma://`` connection gets a database of its own, dropped on ``close()``:
two connections never see each other's collections.

Chroma builds only HNSW (options ``m`` → ``max_neighbors``,
``ef_construction``, ``ef_search``).  It has no brute-force mode, so
``exact=True`` reads the (filtered) collection back and ranks it in numpy:
honoured and exact, at the cost of a full scan.

Scores (Chroma distance ``d`` → contract; the space is fixed at creation):

* cosine: ``d = 1 - cos``, score ``1 - d``;
* dot (Chroma ``ip``): ``d = 1 - u·v``, score ``1 - d``;
* l2: ``d`` is the *squared* distance, score ``-sqrt(d)``.

Collection names: vecstore's portable names that Chroma rejects (shorter than
3 characters, or ending in ``_``/``-``) are stored as ``<name>.vs``; portable
names never contain ``.``, so the mapping is reversible.  The collection's
vecstore settings live in its metadata under ``vecstore``; ``vecstore_tags``
marks collections whose records tag ints and floats apart (see :mod:`.filters`).

A known Chroma defect (chromadb 1.5.9, server and embedded): now and then
a stored record is never returned by ``query`` again, even for its own
vector with ``n_results`` = the whole collection, while ``get`` and
``count`` still have it.  ``benchmarks/chroma_unreachable.py`` reproduces it
with chromadb alone: one client upserting 3 × 40 records of dim 8 with reads
in between lost one record in 4-7 of 150 trials (no thread or HNSW
``batch_size`` setting avoided it).  ``exact=True`` still finds such records;
the crash and two-process suites check that and tolerate a few unreachable
records on Chroma only (:attr:`ann_unreachable`).

Overwrites.  Chroma's upsert merges into a stored record: keys the new
metadata lacks stay, and a ``None`` document keeps the old text.  vecstore's
upsert replaces the record, so each record is written with ``None`` for every
metadata key of the collection it lacks (Chroma deletes those), and a record
without text is stored with document ``""`` and the ``vs.no_text`` flag.  The
collection's keys are registered in a collection of their own,
``<name>.keys`` (one record per key, hidden from ``list_collections``,
dropped with the collection).  Neither a read of the records before each
write (it made the unreachable-record defect below frequent) nor a
``modify`` of the collection's metadata.  Two connections overwriting the
same record at once with different key sets may leave a key of the loser.

One process per directory: Chroma's embedded client is not safe with two
processes writing one ``chroma:///dir`` (measured with chromadb 1.5.9: two
processes upserting 5,000 disjoint records each both reported success, yet
in three runs the HNSW index held only 9,500-10,000 of the 10,000 and reading
the vectors of 469-1,826 records failed; run one after the other, all were
intact).  So a directory store takes an exclusive ``fcntl`` lock on
``<dir>/.lock`` when it connects; another process gets
:class:`~vecstore.errors.StoreLockedError`.  Connections in one process share
it (Chroma shares one client system per directory in a process), and the last
``close()`` (or the process's death) releases it.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import threading
import uuid
from collections.abc import Iterator
from itertools import repeat
from typing import Any

import chromadb
import numpy as np
from chromadb.config import Settings

from ..._bridge import sleep
from ...errors import CollectionNotFoundError, ConfigError, StoreLockedError, VecstoreError
from ...filters import CompiledFilters, Node
from ...store import Batch, Collection, VectorStore
from ...types import CollectionSettings, Hit, Record
from ...url import option
from .filters import NO_TEXT, compile_where, with_type_tags, without_type_tags

SPACES = {"cosine": "cosine", "dot": "ip", "l2": "l2"}
HNSW_DEFAULTS = {"m": 16, "ef_construction": 100, "ef_search": 100}
SETTINGS_KEY = "vecstore"
TAGS_KEY = "vecstore_tags"  # "id": records tag ints "i" and keyed floats "d"; else maybe "n"/"f" (legacy)
TAGS_VERSION = "id"
#: suffix of the collection that registers every metadata key a collection's records were given
#: (one record per key, id = the key): ``<chroma name>.keys``, never a portable name (they hold no ".")
KEYS_SUFFIX = ".keys"
KEYS_OF = "vecstore_keys_of"  # the registry's own metadata: whose keys it holds (drop checks it)
#: the registry's last record, written once every key is in it (never a key: keys hold no ".")
KEYS_COMPLETE = ".complete"
LOCK_FILE = ".lock"
SEGMENT_RETRIES = 6
_CHROMA_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._-]{1,510}[a-zA-Z0-9]$")


def _settings() -> Settings:
    # a fresh object each time: chromadb's client constructors mutate the one they get
    return Settings(anonymized_telemetry=False)


def to_chroma_name(name: str) -> str:
    return name if _CHROMA_NAME.match(name) else f"{name}.vs"


def from_chroma_name(name: str) -> str:
    return name[: -len(".vs")] if name.endswith(".vs") else name


# (pid, directory) -> [locked file, connections of this process using it]
_DIR_LOCKS: dict[tuple[int, str], list[Any]] = {}
_DIR_LOCKS_GUARD = threading.Lock()


def lock_directory(path: str, url: str) -> tuple[int, str]:
    """Take (or share, within this process) the exclusive lock on a Chroma directory."""
    key = (os.getpid(), os.path.realpath(path))
    with _DIR_LOCKS_GUARD:
        held = _DIR_LOCKS.get(key)
        if held is None:
            os.makedirs(key[1], exist_ok=True)
            fh = open(os.path.join(key[1], LOCK_FILE), "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                fh.close()
                raise StoreLockedError(
                    f"{url} is open in another process; Chroma's embedded client is not safe with two"
                    " (close that one first, or serve the directory with `chroma run` and connect to it)"
                ) from exc
            held = _DIR_LOCKS[key] = [fh, 0]
        held[1] += 1
    return key


def unlock_directory(key: tuple[int, str]) -> None:
    with _DIR_LOCKS_GUARD:
        held = _DIR_LOCKS[key]
        held[1] -= 1
        if held[1] == 0:
            del _DIR_LOCKS[key]
            fcntl.flock(held[0], fcntl.LOCK_UN)
            held[0].close()


def register_keys(registry: Any, keys: set[str], complete: bool, size: int) -> None:
    """Add ``keys`` to a key registry in calls of at most ``size``; ``complete``: then mark it
    complete (last, so a registration cut short is redone from the records)."""
    ids = sorted(keys - {KEYS_COMPLETE}) + ([KEYS_COMPLETE] if complete else [])
    for start in range(0, len(ids), size):
        part = ids[start : start + size]
        registry.upsert(ids=part, embeddings=[[0.0]] * len(part))


def _text(document: str | None, meta: dict[str, Any] | None) -> str | None:
    """A record's text: ``None`` where it was stored without one (see :data:`NO_TEXT`)."""
    return None if meta is not None and NO_TEXT in meta else document


def to_score(metric: str, distance: float) -> float:
    if metric == "l2":
        return -float(np.sqrt(max(distance, 0.0)))
    return 1.0 - float(distance)


class ChromaStore(VectorStore):
    backend = "chroma"
    index_types = ("hnsw",)
    index_options = {"hnsw": frozenset(HNSW_DEFAULTS)}
    connect_options = frozenset({"timeout", "token", "headers", "tenant", "database", "ssl_verify"})
    native_async = True
    ann_unreachable = "chromadb 1.5.9: a stored record may become unreachable by query (see the module docs)"
    no_lexical_reason = (
        "local Chroma (embedded and `chroma run`) ranks no keywords: chromadb 1.5 refuses sparse vector indexes"
        " ('Sparse vector indexing is not enabled in local') and its Search API (Knn, Rrf) is 'not implemented"
        " for local' (Chroma Cloud only); where_document $contains is a filter, not a ranking"
    )

    def _connect(self) -> None:
        spec = self.spec
        self._client: Any = None
        self._database: str | None = None
        self._dir_lock: tuple[int, str] | None = None
        tenant = option(spec, self.options, "tenant", default=chromadb.DEFAULT_TENANT)
        database = option(spec, self.options, "database", default=chromadb.DEFAULT_DATABASE)
        if spec.mode == "memory":
            self._database = database = f"vs_{uuid.uuid4().hex}"
            chromadb.AdminClient(_settings()).create_database(database, tenant=tenant)
            self._client = chromadb.EphemeralClient(settings=_settings(), tenant=tenant, database=database)
        elif spec.mode == "path":
            self._dir_lock = lock_directory(str(spec.path), self.url)
            try:
                self._client = chromadb.PersistentClient(
                    path=str(spec.path), settings=_settings(), tenant=tenant, database=database
                )
            except BaseException:
                self._release_dir()
                raise
        else:
            headers = dict(self.options.get("headers") or {})
            token = option(spec, self.options, "token", env="CHROMA_TOKEN") or spec.password
            if token:
                headers.setdefault("Authorization", f"Bearer {token}")
            settings = _settings()
            if self.options.get("ssl_verify") is not None:
                settings.chroma_server_ssl_verify = self.options["ssl_verify"]
            self._timeout = float(option(spec, self.options, "timeout", env="CHROMA_TIMEOUT", default=10.0))
            if self._native_async:
                self._client = self._async_client(headers, settings, tenant, database)
                return
            self._client = chromadb.HttpClient(
                host=spec.host or "localhost",
                port=spec.port or (443 if spec.tls else 8000),
                ssl=spec.tls,
                headers=headers,
                settings=settings,
                tenant=tenant,
                database=database,
            )
            self._bound_timeout()

    def _async_client(self, headers: dict[str, str], settings: Settings, tenant: str, database: str) -> Any:
        """chromadb's ``AsyncHttpClient``, used through :mod:`vecstore._bridge` (vecstore.aio).
        Its HTTP client waits forever by default: each request is bounded by ``timeout`` here, as
        the sync client's are."""
        import asyncio

        from ..._bridge import Awaiting, await_only

        client = await_only(asyncio.wait_for(chromadb.AsyncHttpClient(
            host=self.spec.host or "localhost", port=self.spec.port or (443 if self.spec.tls else 8000),
            ssl=self.spec.tls, headers=headers, settings=settings, tenant=tenant, database=database), self._timeout))
        return Awaiting(client, ("chromadb.api",), timeout=self._timeout)

    def _bound_timeout(self) -> None:
        """The HTTP client waits forever by default; bound every request."""
        import httpx

        session = getattr(getattr(self._client, "_server", None), "_session", None)
        if session is None:
            raise ConfigError("this chromadb version hides its HTTP session; cannot set a timeout")
        session.timeout = httpx.Timeout(self._timeout)

    def _close(self) -> None:
        try:
            if self._database is not None:
                chromadb.AdminClient(_settings()).delete_database(self._database)
            # the async client's HTTP clients are chromadb's, one per event loop, shared by every
            # AsyncHttpClient of the process (its _cleanup closes them all): they are left to it
            if self._client is not None and not self._native_async:
                # the last client of a directory in this process stops Chroma's system for it:
                # a later connection reads the files afresh, not a stale in-memory index
                self._client.close()
        finally:
            self._client = None
            self._release_dir()

    def _release_dir(self) -> None:
        if self._dir_lock is not None:
            unlock_directory(self._dir_lock)
            self._dir_lock = None

    def _translate_error(self, exc: Exception, op: str) -> VecstoreError:
        if type(exc).__name__ == "NotFoundError":
            return CollectionNotFoundError(f"{op}: {exc} [{self.backend}, {self.url}]")
        return super()._translate_error(exc, op)

    def _get_native(self, name: str) -> Any | None:
        try:
            return self._client.get_collection(to_chroma_name(name), embedding_function=None)
        except Exception as exc:
            if type(exc).__name__ == "NotFoundError" or "does not exist" in str(exc):
                return None
            raise

    def _read_settings(self, name: str) -> CollectionSettings | None:
        native = self._get_native(name)
        if native is None:
            return None
        raw = (native.metadata or {}).get(SETTINGS_KEY)
        if raw is None:
            raise ConfigError(f"Chroma collection {native.name!r} was not created by vecstore (no settings in its metadata)")
        return CollectionSettings.from_json(json.loads(raw))

    def _create_collection(self, settings: CollectionSettings) -> None:
        opts = {**HNSW_DEFAULTS, **settings.index_options}
        client: Any = self._client
        client.create_collection(
            to_chroma_name(settings.name),
            embedding_function=None,
            metadata={SETTINGS_KEY: json.dumps(settings.to_json()), TAGS_KEY: TAGS_VERSION},
            configuration={
                "hnsw": {
                    "space": SPACES[settings.metric],
                    "max_neighbors": int(opts["m"]),
                    "ef_construction": int(opts["ef_construction"]),
                    "ef_search": int(opts["ef_search"]),
                }
            },
        )
        register_keys(self._keys_native(settings.name, create=True), set(), complete=True,
                      size=int(client.get_max_batch_size()))

    def _keys_native(self, name: str, create: bool = False) -> Any | None:
        """The key registry of collection ``name`` (see :meth:`ChromaCollection._keys`); one
        that another program made under that name is not vecstore's: refused."""
        keys_name = to_chroma_name(name) + KEYS_SUFFIX
        try:
            registry = self._client.get_collection(keys_name, embedding_function=None)
        except Exception as exc:
            if not (type(exc).__name__ == "NotFoundError" or "does not exist" in str(exc)):
                raise
            if not create:
                return None
            registry = self._client.get_or_create_collection(
                keys_name, embedding_function=None, metadata={KEYS_OF: to_chroma_name(name)})
        if (registry.metadata or {}).get(KEYS_OF) != to_chroma_name(name):
            if not create:
                return None
            raise ConfigError(f"Chroma collection {keys_name!r} is not vecstore's key registry of {name!r};"
                              f" rename or drop it [{self.backend}, {self.url}]")
        return registry

    def _open_collection(self, settings: CollectionSettings) -> Collection:
        native = self._get_native(settings.name)
        if native is None:
            raise CollectionNotFoundError(f"collection {settings.name!r} disappeared [{self.backend}, {self.url}]")
        return ChromaCollection(self, settings, native)

    def _list_collections(self) -> list[str]:
        return [
            from_chroma_name(c.name) for c in self._client.list_collections() if SETTINGS_KEY in (c.metadata or {})
        ]

    def _drop_collection(self, name: str) -> bool:
        if self._get_native(name) is None:
            return False
        self._client.delete_collection(to_chroma_name(name))
        if self._keys_native(name) is not None:
            self._client.delete_collection(to_chroma_name(name) + KEYS_SUFFIX)
        return True

    def _write_settings(self, settings: CollectionSettings) -> None:
        native = self._get_native(settings.name)
        if native is None:
            raise CollectionNotFoundError(f"collection {settings.name!r} does not exist [{self.backend}, {self.url}]")
        native.modify(metadata={**(native.metadata or {}), SETTINGS_KEY: json.dumps(settings.to_json())})


class ChromaCollection(Collection):
    def __init__(self, store: ChromaStore, settings: CollectionSettings, native: Any) -> None:
        super().__init__(store, settings)
        self._chroma = store
        self._native = native
        self._registry: Any = None
        self._legacy_tags = (native.metadata or {}).get(TAGS_KEY) != TAGS_VERSION
        # chromadb only serialises a where, never changes it: compiled once per value and type
        self._where = CompiledFilters(lambda node: compile_where(node, self._legacy_tags, settings.schema))
        # the server's own limit, not a guess (5461 for the embedded SQLite build)
        self.max_batch_size = int(store._client.get_max_batch_size())

    def _upsert(self, batch: Batch) -> None:
        """Chroma merges an upsert into the stored record; vecstore's replaces it, so each record
        is written with ``None`` for every key of the collection it lacks (see
        :func:`.filters.with_type_tags`).  No read of the records first: a read between writes is
        what makes Chroma's unreachable-record defect frequent (module docs).  One write, so a
        crash leaves each record old or new."""
        keys = self._keys([m for m in batch.metadata if m])
        self._native.upsert(
            ids=batch.ids,
            embeddings=batch.vectors,
            documents=["" if text is None else text for text in batch.texts],
            metadatas=[with_type_tags(meta, text, keys, self.settings.schema)
                       for text, meta in zip(batch.texts, batch.metadata)],
        )

    def _keys(self, metadata: list[dict[str, Any]]) -> list[str]:
        """Every metadata key of the collection, the batch's new ones registered first.

        The keys live in a collection of their own (``<name>.keys``), read afresh for each batch
        (another connection may have added some): neither a read of this collection's records
        nor a ``modify`` of its metadata, which on a Chroma server (1.5.9) makes concurrent
        queries fail ("Error creating hnsw segment reader: Nothing found on disk").  A
        collection from before the registry gets one by reading its records' metadata once."""
        registry = self._registry
        if registry is None:
            registry = self._registry = self._chroma._keys_native(self.name, create=True)
        known = set(registry.get(include=[])["ids"])
        if KEYS_COMPLETE not in known:  # an older collection, or its first registration was cut short
            known |= self._scan_keys()
            register_keys(registry, known, complete=True, size=self.max_batch_size)
        known.discard(KEYS_COMPLETE)
        new = {key for m in metadata for key in m if key not in known}
        register_keys(registry, new, complete=False, size=self.max_batch_size)
        return sorted(known | new)

    def _scan_keys(self) -> set[str]:
        keys: set[str] = set()
        for batch in self._iterate(self.max_batch_size, None, False):
            for record in batch:
                keys.update(record.metadata)
        return keys

    def _search(
        self,
        queries: np.ndarray,
        k: int,
        filter: Node | None,
        exact: bool,
        include_vectors: bool,
        params: dict[str, Any],
    ) -> list[list[Hit]]:
        if exact:
            return self._scan_search(queries, k, filter, include_vectors)
        include = ["documents", "metadatas", "distances"] + (["embeddings"] if include_vectors else [])
        res = self._query(query_embeddings=queries, n_results=k, where=self._where(filter), include=include)
        if include_vectors:
            return [
                [Hit(id_, to_score(self.metric, d), _text(doc, meta), without_type_tags(meta),
                     np.asarray(vec, dtype=np.float32))
                 for id_, d, doc, meta, vec in zip(ids, dists, docs, metas, vecs)]
                for ids, dists, docs, metas, vecs in zip(res["ids"], res["distances"], res["documents"],
                                                         res["metadatas"], res["embeddings"])
            ]
        if self.metric == "l2":
            return [
                [Hit(id_, to_score("l2", d), _text(doc, meta), without_type_tags(meta)) for id_, d, doc, meta in zip(*row)]
                for row in zip(res["ids"], res["distances"], res["documents"], res["metadatas"])
            ]
        # cosine and dot: score 1 - d (to_score, inlined: this runs once per hit)
        return [
            [Hit(id_, 1.0 - float(d), _text(doc, meta), without_type_tags(meta)) for id_, d, doc, meta in zip(*row)]
            for row in zip(res["ids"], res["distances"], res["documents"], res["metadatas"])
        ]

    def _query(self, **kwargs: Any) -> Any:
        """``query``, tried again (up to :data:`SEGMENT_RETRIES` times, 10 ms doubling) on a Chroma
        server's transient "Nothing found on disk": chromadb 1.5.9's server fails a query that
        meets a new collection's first flush of its HNSW segment (reproduced with chromadb's own
        ``AsyncHttpClient``: 20 upserts and 30 queries at once on a new collection failed 2-5
        queries when the upserts started a little late; each succeeded when tried again)."""
        for attempt in range(SEGMENT_RETRIES):
            try:
                return self._native.query(**kwargs)
            except Exception as exc:
                if attempt == SEGMENT_RETRIES - 1 or "Nothing found on disk" not in str(exc):
                    raise
                sleep(0.01 * 2**attempt)
        raise AssertionError("unreachable")

    def _records(self, res: dict[str, Any], include_vectors: bool) -> list[Record]:
        ids = res["ids"]
        docs = res.get("documents") or [None] * len(ids)
        metas = res.get("metadatas") or [None] * len(ids)
        # map() over columns, the vectors as rows of one array: a get of 1,000 spent 2.4 ms here
        vectors: Any = repeat(None)
        if include_vectors and ids:
            vectors = np.asarray(res["embeddings"], dtype=np.float32)
        return list(map(Record, ids, vectors, map(_text, docs, metas), map(without_type_tags, metas)))

    def _include(self, include_vectors: bool) -> list[str]:
        return ["documents", "metadatas"] + (["embeddings"] if include_vectors else [])

    def _get(self, ids: list[str], include_vectors: bool) -> list[Record]:
        out: list[Record] = []
        for start in range(0, len(ids), self.max_batch_size):
            res = self._native.get(ids=ids[start : start + self.max_batch_size], include=self._include(include_vectors))
            out.extend(self._records(res, include_vectors))
        return out

    def _delete(self, ids: list[str]) -> None:
        self._native.delete(ids=ids)

    def _count(self, filter: Node | None) -> int:
        if filter is None:
            return int(self._native.count())
        return len(self._native.get(where=self._where(filter), include=[])["ids"])

    def _iterate(self, batch_size: int, filter: Node | None, include_vectors: bool) -> Iterator[list[Record]]:
        where = self._where(filter)
        offset = 0
        while True:
            res = self._native.get(where=where, limit=batch_size, offset=offset, include=self._include(include_vectors))
            if not res["ids"]:
                return
            yield self._records(res, include_vectors)
            offset += len(res["ids"])
