"""Run the sync layer's code on an event loop, over an SDK's native async client.

:mod:`vecstore.aio` must not copy the sync layer's logic (validation, filters, score
conversion, batching).  So it runs that very code, unchanged, inside a greenlet on the event
loop's thread (the technique SQLAlchemy's asyncio extension uses): the adapter holds its SDK's
*async* client wrapped in :class:`Awaiting`, whose calls hand each coroutine up to the event
loop (:func:`spawn` awaits it) and resume the sync code with the result.  Every network wait is
therefore a real ``await`` on the loop; nothing blocks it but the CPU work between requests.

* :func:`spawn` — ``await spawn(fn, *args)`` runs ``fn`` so that :func:`await_only` works in it;
* :func:`await_only` — from inside ``fn``: await a coroutine on the loop and return its result;
* :class:`Awaiting` — an async SDK object seen as a sync one: methods returning awaitables are
  awaited, ``with`` uses ``__aenter__``/``__aexit__``, ``for`` uses ``__aiter__``; results whose
  type comes from the given SDK modules are wrapped in turn (a collection, a cursor, ...).
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Awaiting", "await_only", "in_bridge", "native", "sleep", "spawn"]

_worker_class: Any = None


def _worker() -> Any:
    """The greenlet class running sync code for :func:`spawn` (greenlet imported on first use,
    so that sync users of an adapter never import it)."""
    global _worker_class
    if _worker_class is None:
        from greenlet import greenlet

        class _Worker(greenlet):  # type: ignore[misc]
            def __init__(self, fn: Callable[..., Any], driver: Any) -> None:
                super().__init__(fn, driver)
                self.driver = driver
                self.gr_context = driver.gr_context  # contextvars (tracing spans, ...) carry over

        _worker_class = _Worker
    return _worker_class


def in_bridge() -> bool:
    """Whether this code runs under :func:`spawn` (and may use :func:`await_only`)."""
    if _worker_class is None:
        return False
    from greenlet import getcurrent

    return isinstance(getcurrent(), _worker_class)


def await_only(awaitable: Any) -> Any:
    """Await ``awaitable`` on the event loop from sync code run by :func:`spawn`."""
    if not in_bridge():
        raise RuntimeError("an async SDK client was used outside vecstore.aio (no event loop to await on)")
    from greenlet import getcurrent

    return getcurrent().driver.switch(awaitable)


def sleep(seconds: float) -> None:
    """``time.sleep``, or, under :func:`spawn`, an ``asyncio.sleep`` that leaves the loop running."""
    if in_bridge():
        import asyncio

        await_only(asyncio.sleep(seconds))
    else:
        import time

        time.sleep(seconds)


async def spawn(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run ``fn(*args, **kwargs)``, awaiting on this loop each awaitable it passes to :func:`await_only`.
    An exception of an await (``CancelledError`` included) is raised inside ``fn`` at that point."""
    from greenlet import getcurrent

    worker = _worker()(fn, getcurrent())
    result = worker.switch(*args, **kwargs)
    while not worker.dead:
        try:
            value = await result
        except BaseException:
            result = worker.throw(*sys.exc_info())
        else:
            result = worker.switch(value)
    return result


_PLAIN = (dict, list, tuple, str, bytes, int, float, bool, type(None))


class Awaiting:
    """An async SDK object used through its sync-looking interface (see the module docs)."""

    __slots__ = ("__weakref__", "_modules", "_obj", "_timeout")

    def __init__(self, obj: Any, modules: tuple[str, ...] = (), timeout: float | None = None) -> None:
        """``timeout``: seconds each awaited request may take (for SDK clients without a bound
        of their own); past it, ``TimeoutError``."""
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_modules", modules)
        object.__setattr__(self, "_timeout", timeout)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._obj, name)
        if callable(value) and not isinstance(value, type):
            def call(*args: Any, **kwargs: Any) -> Any:
                return self._settle(value(*args, **kwargs))

            return call
        return self._wrap(value)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._obj, name, value)

    def _settle(self, result: Any) -> Any:
        if inspect.isawaitable(result):
            if self._timeout is not None:
                import asyncio

                result = asyncio.wait_for(result, self._timeout)
            result = await_only(result)
        return self._wrap(result)

    def _wrap(self, value: Any) -> Any:
        if isinstance(value, _PLAIN) or not self._modules:
            return value
        if (type(value).__module__ or "").startswith(self._modules) or hasattr(value, "__aenter__"):
            return Awaiting(value, self._modules, self._timeout)
        return value

    def __enter__(self) -> Any:
        return self._settle(self._obj.__aenter__())

    def __exit__(self, *exc: Any) -> Any:
        return self._settle(self._obj.__aexit__(*exc))

    def __iter__(self) -> Iterator[Any]:
        it = self._obj.__aiter__()
        while True:
            try:
                item = await_only(it.__anext__())
            except StopAsyncIteration:
                return
            yield self._wrap(item)

    def __eq__(self, other: object) -> bool:
        return self._obj == native(other)

    def __hash__(self) -> int:
        return hash(self._obj)

    def __repr__(self) -> str:
        return f"<Awaiting {self._obj!r}>"


def native(obj: Any) -> Any:
    """The object behind an :class:`Awaiting` (or ``obj`` itself)."""
    return obj._obj if isinstance(obj, Awaiting) else obj
