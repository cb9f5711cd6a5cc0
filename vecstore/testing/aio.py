"""The conformance suite in async form: :class:`BlockingStore` puts the sync API over a
:mod:`vecstore.aio` store, each call a coroutine run on an event loop in a thread of its own,
so the very same case definitions (:mod:`vecstore.testing.conformance`) exercise every async
method.  Only methods are forwarded through the loop; a sync method without an async twin
is not reachable through the facade (a case using one fails instead of bypassing vecstore.aio).

    class TestMyBackendAsync(ConformanceSuite):
        @pytest.fixture
        def store_factory(self, tmp_path):
            return lambda: BlockingStore(f"mydb://{tmp_path}")
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

from .. import aio

__all__ = ["BlockingCollection", "BlockingStore"]

T = TypeVar("T")


class BlockingStore:
    """A :class:`vecstore.aio.AsyncVectorStore` behind the sync store's interface."""

    def __init__(self, url: str, *, native: bool = False, **options: Any) -> None:
        """``native=True`` runs the adapter over its SDK's async client whatever the mode (where
        the SDK's async client has an in-process mode: ``qdrant://``), to test that path here."""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="vecstore-aio-loop", daemon=True)
        self._thread.start()
        try:
            if native:
                from ..registry import connect

                forced = aio.AsyncVectorStore(connect(url, **options), native=True)
                self.wait(forced.connect())
                self.aio: aio.AsyncVectorStore = forced
            else:
                self.aio = self.wait(aio.connect(url, **options))
        except BaseException:
            self._stop()
            raise

    def wait(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on this store's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.aio.sync, name)
        if callable(value):
            raise AttributeError(f"{name}() has no async twin in vecstore.aio")
        return value

    def collection(self, name: str, dim: int | None = None, metric: str | None = None, index: str | None = None,
                   **kwargs: Any) -> BlockingCollection:
        return BlockingCollection(self, self.wait(self.aio.collection(name, dim, metric, index, **kwargs)))

    def get_collection(self, name: str) -> BlockingCollection:
        return BlockingCollection(self, self.wait(self.aio.get_collection(name)))

    def has_collection(self, name: str) -> bool:
        return self.wait(self.aio.has_collection(name))

    def list_collections(self) -> list[str]:
        return self.wait(self.aio.list_collections())

    def drop_collection(self, name: str) -> bool:
        return self.wait(self.aio.drop_collection(name))

    def close(self) -> None:
        if self._loop.is_closed():
            return
        try:
            self.wait(self.aio.close())
        finally:
            self._stop()

    def _stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def __enter__(self) -> BlockingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class BlockingCollection:
    """A :class:`vecstore.aio.AsyncCollection` behind the sync collection's interface."""

    def __init__(self, store: BlockingStore, collection: aio.AsyncCollection) -> None:
        self.store = store
        self.aio = collection

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.aio.sync, name)
        if callable(value):
            raise AttributeError(f"{name}() has no async twin in vecstore.aio")
        return value

    def upsert(self, *args: Any, **kwargs: Any) -> int:
        return self.store.wait(self.aio.upsert(*args, **kwargs))

    def delete(self, *args: Any, **kwargs: Any) -> int:
        return self.store.wait(self.aio.delete(*args, **kwargs))

    def search(self, *args: Any, **kwargs: Any) -> Any:
        return self.store.wait(self.aio.search(*args, **kwargs))

    def search_batch(self, *args: Any, **kwargs: Any) -> Any:
        return self.store.wait(self.aio.search_batch(*args, **kwargs))

    def get(self, *args: Any, **kwargs: Any) -> Any:
        return self.store.wait(self.aio.get(*args, **kwargs))

    def count(self, *args: Any, **kwargs: Any) -> int:
        return self.store.wait(self.aio.count(*args, **kwargs))

    def iterate(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        agen: Any = self.aio.iterate(*args, **kwargs)
        try:
            while True:
                try:
                    yield self.store.wait(agen.__anext__())
                except StopAsyncIteration:
                    return
        finally:
            self.store.wait(agen.aclose())

    def update_info(self, values: Any) -> None:
        self.store.wait(self.aio.update_info(values))

    def optimize(self) -> None:
        self.store.wait(self.aio.optimize())
