"""The contract for asyncio applications: the same stores, methods, validation, errors,
capabilities and scores as :mod:`vecstore`, as coroutines.

>>> import vecstore.aio
>>> async with await vecstore.aio.connect("chroma://localhost:8000") as store:
...     docs = await store.collection("docs", dim=384)
...     await docs.upsert(records)
...     hits = await docs.search(vector, k=5, filter={"lang": "en"}, timeout=2.0)
...     async for batch in docs.iterate(500):
...         ...

How each call runs — never by blocking the event loop, and always through the sync layer's own
code (one source of truth for validation, filters and score conversion):

* **Servers whose SDK has a native async client** (Chroma ``AsyncHttpClient``, psycopg's async
  connections for PostgreSQL, ``AsyncQdrantClient``, ``AsyncElasticsearch``): the adapter runs
  on the event loop over that client (:mod:`vecstore._bridge`); every network wait is an
  ``await``.  :attr:`AsyncVectorStore.native` is ``True``.
* **In-process engines** (Faiss, Qdrant local mode and Edge, Milvus Lite, Chroma embedded,
  ``pgvector://`` directories) and servers without a native path (Milvus): the sync store runs
  on a bounded pool of worker threads (``workers=``, default 4) — the sync stores are
  thread-safe, so the guarantees of the sync API hold unchanged.

Cancellation and timeouts (``timeout=`` seconds on every method): a cancelled or timed-out
*read* is abandoned.  A *write* (``upsert``, ``delete``, ``update_info``, ``optimize``,
creating or dropping a collection) is never cut in half: it runs to its end even when the caller
is cancelled (the cancellation or :class:`~vecstore.errors.BackendTimeoutError` is raised to the
caller), and :meth:`AsyncVectorStore.close` waits for writes still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from . import _bridge
from .errors import BackendTimeoutError
from .registry import connect as _connect_sync
from .store import Collection, VectorStore
from .textsearch import _texts
from .types import Capabilities, Hit, Record

__all__ = ["AsyncCollection", "AsyncTextCollection", "AsyncVectorStore", "connect", "ingest", "open", "view", "wrap"]

DEFAULT_WORKERS = 4


async def connect(url: str, *, workers: int = DEFAULT_WORKERS, **options: Any) -> AsyncVectorStore:
    """Open a store for asyncio (see the module docs); ``options`` as :func:`vecstore.connect`.
    Connecting happens here, so an unreachable server fails at once."""
    store = wrap(_connect_sync(url, **options), workers=workers, native=True)
    await store.connect()
    return store


def wrap(store: VectorStore, *, workers: int = DEFAULT_WORKERS, native: bool = False) -> AsyncVectorStore:
    """An async view of ``store``.  With ``native`` and a server backend that has a native async
    client, ``store`` must not be connected yet (it then connects with the async client and is
    used only through this view); otherwise calls run on a worker pool, and ``store`` stays usable
    from sync code too (in-memory stores are shared this way)."""
    use_native = bool(native and store.spec.mode == "server" and type(store).native_async and not store._connected)
    return AsyncVectorStore(store, native=use_native, workers=workers)


def view(store: VectorStore, *, workers: int = DEFAULT_WORKERS) -> AsyncVectorStore:
    """An async view of a store already in use from sync code: for a server whose SDK has a
    native async client, a second connection (same URL and options) over that client; otherwise
    the same store on the worker pool.  Closing the view never closes ``store``."""
    if store.spec.mode == "server" and type(store).native_async:
        return wrap(type(store)(store.spec, **store.options), native=True, workers=workers)
    return AsyncVectorStore(store, native=False, workers=workers, owns=False)


class AsyncVectorStore:
    """An async store; opened by :func:`connect`.  Use ``async with``, or ``await close()``."""

    def __init__(self, store: VectorStore, *, native: bool, workers: int = DEFAULT_WORKERS,
                 owns: bool = True) -> None:
        self.sync = store
        self.native = native
        self._owns = owns
        store._native_async = native
        self._executor = None if native else ThreadPoolExecutor(max(1, workers), thread_name_prefix="vecstore-aio")
        self._locks: dict[int, asyncio.Lock] = {}  # connect and check-then-create, per event loop
        self._writes: set[asyncio.Future[Any]] = set()

    # -- the contract ---------------------------------------------------------------

    @property
    def backend(self) -> str:
        return self.sync.backend

    @property
    def url(self) -> str:
        return self.sync.url

    @property
    def capabilities(self) -> Capabilities:
        return self.sync.capabilities

    @property
    def _lock(self) -> asyncio.Lock:
        loop = id(asyncio.get_running_loop())
        if loop not in self._locks:
            self._locks = {loop: asyncio.Lock()}
        return self._locks[loop]

    async def connect(self, *, timeout: float | None = None) -> None:
        """Connect now (otherwise the first call does)."""
        if not self.sync._connected:
            async with self._lock:
                if not self.sync._connected:
                    await self._run(self.sync._ensure_connected, timeout=timeout, op="connect")

    async def collection(self, name: str, dim: int | None = None, metric: str | None = None,
                         index: str | None = None, *, info: Mapping[str, Any] | None = None,
                         schema: Mapping[str, str | type] | None = None, timeout: float | None = None,
                         **index_options: Any) -> AsyncCollection:
        """:meth:`vecstore.VectorStore.collection`: open, or create when ``dim`` is given."""
        await self.connect(timeout=timeout)
        async with self._lock:
            col = await self._run(functools.partial(self.sync.collection, name, dim, metric, index, info=info,
                                                    schema=schema, **index_options), timeout=timeout,
                                  write=dim is not None,
                                  op="open collection")
        return AsyncCollection(self, col)

    async def get_collection(self, name: str, *, timeout: float | None = None) -> AsyncCollection:
        return await self.collection(name, timeout=timeout)

    async def has_collection(self, name: str, *, timeout: float | None = None) -> bool:
        return bool(await self.call(self.sync.has_collection, name, timeout=timeout))

    async def list_collections(self, *, timeout: float | None = None) -> list[str]:
        return list(await self.call(self.sync.list_collections, timeout=timeout))

    async def drop_collection(self, name: str, *, timeout: float | None = None) -> bool:
        return bool(await self.call(self.sync.drop_collection, name, timeout=timeout, write=True))

    async def close(self) -> None:
        """Wait for writes still running, then close (safe to call from inside a running loop)."""
        if self._writes:
            await asyncio.gather(*self._writes, return_exceptions=True)
        try:
            if not self._owns:
                return
            if self.sync._connected and not self.sync._closed:
                await self._run(self.sync.close, timeout=None, op="close")
            else:
                self.sync.close()
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=False)

    async def __aenter__(self) -> AsyncVectorStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __repr__(self) -> str:
        return f"<AsyncVectorStore {self.url} {'native' if self.native else 'worker pool'}>"

    # -- running a sync-layer call -------------------------------------------------------

    async def call(self, fn: Callable[..., Any], *args: Any, timeout: float | None = None, write: bool = False,
                   executor: ThreadPoolExecutor | None = None, **kwargs: Any) -> Any:
        """Run a method of the sync store or a collection (connecting first)."""
        await self.connect(timeout=timeout)
        return await self._run(functools.partial(fn, *args, **kwargs), timeout=timeout, write=write,
                               op=getattr(fn, "__name__", "call"), executor=executor)

    async def _run(self, fn: Callable[[], Any], *, timeout: float | None, write: bool = False, op: str,
                   executor: ThreadPoolExecutor | None = None) -> Any:
        if self.native:
            task: asyncio.Future[Any] = asyncio.ensure_future(_bridge.spawn(fn))
        else:
            task = asyncio.get_running_loop().run_in_executor(executor or self._executor, fn)
        if write:  # runs to its end whatever happens to the caller
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)
            waiter: Any = asyncio.shield(task)
        else:
            waiter = task
        try:
            return await asyncio.wait_for(waiter, timeout)
        except TimeoutError:
            if task.done() and not task.cancelled() and task.exception() is not None:
                raise  # the backend's own timeout error
            raise BackendTimeoutError(
                f"{op} did not finish in {timeout} s" + (" (the write goes on; close() waits for it)" if write else ""),
                backend=self.backend, url=self.url) from None


class AsyncCollection:
    """:class:`vecstore.Collection` as coroutines; every method takes ``timeout=`` seconds."""

    def __init__(self, store: AsyncVectorStore, collection: Collection) -> None:
        self.store = store
        self.sync = collection

    name = property(lambda self: self.sync.name)
    dim = property(lambda self: self.sync.dim)
    metric = property(lambda self: self.sync.metric)
    index = property(lambda self: self.sync.index)
    settings = property(lambda self: self.sync.settings)
    info = property(lambda self: self.sync.info)
    schema = property(lambda self: self.sync.schema)
    tunable_params = property(lambda self: self.sync.tunable_params)

    async def upsert(self, records: Iterable[Record | Mapping[str, Any]] | None = None, *,
                     timeout: float | None = None, **kwargs: Any) -> int:
        return int(await self.store.call(self.sync.upsert, records, timeout=timeout, write=True, **kwargs))

    async def delete(self, ids: Iterable[str] | None = None, *, filter: Mapping[str, Any] | None = None,
                     timeout: float | None = None) -> int:
        return int(await self.store.call(self.sync.delete, ids, filter=filter, timeout=timeout, write=True))

    async def search(self, vector: Any = None, k: int = 10, *, timeout: float | None = None, **kwargs: Any) -> list[Hit]:
        return list(await self.store.call(self.sync.search, vector, k, timeout=timeout, **kwargs))

    async def search_batch(self, vectors: Any = None, k: int = 10, *, timeout: float | None = None,
                           **kwargs: Any) -> list[list[Hit]]:
        return list(await self.store.call(self.sync.search_batch, vectors, k, timeout=timeout, **kwargs))

    async def get(self, ids: Iterable[str], *, include_vectors: bool = True,
                  timeout: float | None = None) -> list[Record]:
        return list(await self.store.call(self.sync.get, ids, include_vectors=include_vectors, timeout=timeout))

    async def count(self, filter: Mapping[str, Any] | None = None, *, timeout: float | None = None) -> int:
        return int(await self.store.call(self.sync.count, filter, timeout=timeout))

    async def iterate(self, batch_size: int = 1000, *, filter: Mapping[str, Any] | None = None,
                      include_vectors: bool = True, timeout: float | None = None) -> AsyncIterator[list[Record]]:
        """Every record (matching ``filter``), in batches; ``timeout`` applies to each batch."""
        it: Any = self.sync.iterate(batch_size, filter=filter, include_vectors=include_vectors)
        done = object()
        # one thread for the whole iteration: an adapter's iterator may hold a lock between batches
        own = None if self.store.native else ThreadPoolExecutor(1, thread_name_prefix="vecstore-aio-iterate")
        try:
            while True:
                batch = await self.store.call(next, it, done, timeout=timeout, executor=own)
                if batch is done:
                    return
                yield batch
        finally:
            if own is not None:
                own.submit(it.close)
                own.shutdown(wait=False)
            else:
                with contextlib.suppress(Exception):
                    it.close()

    async def update_info(self, values: Mapping[str, Any], *, timeout: float | None = None) -> None:
        await self.store.call(self.sync.update_info, values, timeout=timeout, write=True)

    async def optimize(self, *, timeout: float | None = None) -> None:
        await self.store.call(self.sync.optimize, timeout=timeout, write=True)

    def __repr__(self) -> str:
        return f"<AsyncCollection {self.name!r} dim={self.dim} metric={self.metric} in {self.store.url}>"


# -- text search and the pipeline ----------------------------------------------------------------


class AsyncTextCollection:
    """:class:`vecstore.TextCollection` for asyncio: queries are embedded in a worker thread."""

    def __init__(self, store: AsyncVectorStore, collection: AsyncCollection, embedder: Any) -> None:
        self.store = store
        self.collection = collection
        self.embedder = embedder

    async def search(self, text: str, k: int = 10, **kwargs: Any) -> list[Hit]:
        return (await self.search_batch([text], k, **kwargs))[0]

    async def search_batch(self, texts: Sequence[str], k: int = 10, *, mode: str = "dense",
                           **kwargs: Any) -> list[list[Hit]]:
        texts = _texts(texts)
        vectors = None if mode == "lexical" else await asyncio.to_thread(self.embedder.embed_queries, texts)
        if mode == "dense":
            return await self.collection.search_batch(vectors, k, **kwargs)
        return await self.collection.search_batch(vectors, k, texts=texts, mode=mode, **kwargs)

    async def close(self) -> None:
        await self.store.close()

    async def __aenter__(self) -> AsyncTextCollection:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def open(url: str, collection: str, *, embedder: Any = None, accept_variant: bool = False,
               **options: Any) -> AsyncTextCollection:
    """:func:`vecstore.open` for asyncio: the collection plus the model it was built with."""
    from .pipeline.ingest import check_embedding
    from .textsearch import embedder_for

    store = await connect(url, **options)
    try:
        col = await store.collection(collection)
        model = await asyncio.to_thread(embedder_for, col.sync, embedder, accept_variant, check=False)
        # the check may read and record on the collection: through the store, on its client
        await store.call(check_embedding, col.sync, model.fingerprint(), accept_variant)
    except BaseException:
        await store.close()
        raise
    return AsyncTextCollection(store, col, model)


async def ingest(*args: Any, **kwargs: Any) -> Any:
    """:func:`vecstore.ingest` off the event loop (loading, chunking, embedding and the writes
    run in a worker thread); same arguments, same report."""
    from .pipeline.ingest import ingest as ingest_sync

    return await asyncio.to_thread(ingest_sync, *args, **kwargs)
