"""Query load from several clients at once (``vecstore compare --concurrency 1,4,16``).

One Python client saturates neither a server nor itself, so each concurrency level N sends the
query set from N clients, each a process of its own that opens the store by URL (with
``--engine ray``, N Ray actors, which may sit on other nodes).  The queries are dealt out in turn
(client i takes queries i, i+N, ...), every client warms up, then all start together; QPS is
every query over the time from the first start to the last finish, and the latency percentiles
are over every query.  A store that lives in this process (``faiss://``, a directory) cannot be
opened by another process, so its clients are N threads here, and the level says so
(``"clients": "threads"``).  Client processes are started with ``spawn``, which imports the
calling script again: a script that calls :func:`vecstore.compare.compare` needs the usual
``if __name__ == "__main__":`` guard.

``--while-ingesting`` measures the same at the highest level while a writer in this process
upserts the corpus again, batch after batch, until the queries are done (VectorDBBench 1.0's
streaming case, but rewriting the records already there, so that exact search stays the truth for
recall).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any

import numpy as np

from ..url import ConnectionSpec, parse_url
from . import metrics

#: Result of one client: (query indices, latencies in s, top-k ids, start, end) (wall clock, s)
ClientResult = tuple[list[int], list[float], list[list[str]], float, float]
#: Records per upsert of the --while-ingesting writer
STREAM_BATCH = 256
#: How long a warmed-up client waits for the others before the level fails
BARRIER_TIMEOUT_S = 600.0


def _search_all(col: Any, queries: np.ndarray, k: int, params: dict[str, Any]) -> tuple[list[float], list[list[str]]]:
    latencies, ids = [], []
    for q in queries:
        started = time.perf_counter()
        hits = col.search(q, k=k, **params)
        latencies.append(time.perf_counter() - started)
        ids.append([h.id for h in hits])
    return latencies, ids


class _Client:
    """One client: its own connection, opened from the parsed URL and connect() options."""

    def __init__(self, url: ConnectionSpec, options: dict[str, Any], collection: str) -> None:
        from ..registry import resolve

        self.store = resolve(url.scheme)(url, **options)
        self.col = self.store.get_collection(collection)

    def warm(self, queries: np.ndarray, k: int, params: dict[str, Any]) -> None:
        _search_all(self.col, queries, k, params)

    def run(self, share: list[int], queries: np.ndarray, k: int, params: dict[str, Any]) -> ClientResult:
        start = time.time()
        latencies, ids = _search_all(self.col, queries, k, params)
        return share, latencies, ids, start, time.time()

    def close(self) -> None:
        self.store.close()


def _process_client(url: ConnectionSpec, options: dict[str, Any], collection: str, share: list[int],
                    queries: np.ndarray, k: int, params: dict[str, Any], warmup: int, barrier: Any) -> ClientResult:
    try:
        client = _Client(url, options, collection)
        client.warm(queries[:warmup], k, params)
    except BaseException:
        barrier.abort()  # the others stop waiting for this one: the level fails with this error
        raise
    try:
        barrier.wait(BARRIER_TIMEOUT_S)
        return client.run(share, queries, k, params)
    finally:
        client.close()


def _shares(n_queries: int, clients: int) -> list[list[int]]:
    return [list(range(i, n_queries, clients)) for i in range(clients)]


def _processes(url: ConnectionSpec, options: dict[str, Any], collection: str, queries: np.ndarray, clients: int,
               k: int, params: dict[str, Any], warmup: int) -> list[ClientResult]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding client threads
    with ctx.Manager() as manager, ProcessPoolExecutor(clients, mp_context=ctx) as pool:
        barrier = manager.Barrier(clients)
        futures = [pool.submit(_process_client, url, options, collection, share, queries[share], k, params, warmup,
                               barrier) for share in _shares(len(queries), clients)]
        return _results([f.exception() or f.result() for f in futures])


def _results(outcomes: list[Any]) -> list[ClientResult]:
    """The clients' results; if any failed, the error of the one that failed first-hand (the
    others only saw the start line broken)."""
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:
        raise next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
    return outcomes


def _ray_actors(url: ConnectionSpec, options: dict[str, Any], collection: str, queries: np.ndarray, clients: int,
                k: int, params: dict[str, Any], warmup: int) -> list[ClientResult]:
    from ..pipeline.raydata import _ray, worker_errors

    ray = _ray()
    remote = ray.remote(num_cpus=0)(_Client)  # clients wait on the server: they reserve no CPU
    actors = [remote.remote(url, options, collection) for _ in range(clients)]
    try:
        shares = _shares(len(queries), clients)
        with worker_errors():  # a client that cannot connect: its vecstore error
            ray.get([a.warm.remote(queries[s][:warmup], k, params) for a, s in zip(actors, shares)])
        began = time.time()  # the driver's clock: the actors' may differ (other nodes)
        results = ray.get([a.run.remote(s, queries[s], k, params) for a, s in zip(actors, shares)])
        ended = time.time()
        return [(share, lat, ids, began, ended) for share, lat, ids, _, _ in results]
    finally:
        for actor in actors:
            ray.kill(actor)


def _threads(col: Any, queries: np.ndarray, clients: int, k: int, params: dict[str, Any],
             warmup: int) -> list[ClientResult]:
    barrier = threading.Barrier(clients)

    def client(share: list[int]) -> ClientResult:
        try:
            _search_all(col, queries[share][:warmup], k, params)
        except BaseException:
            barrier.abort()
            raise
        barrier.wait(BARRIER_TIMEOUT_S)
        start = time.time()
        latencies, ids = _search_all(col, queries[share], k, params)
        return share, latencies, ids, start, time.time()

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client, share) for share in _shares(len(queries), clients)]
        return _results([f.exception() or f.result() for f in futures])


def measure_level(col: Any, url: str, connect_options: dict[str, Any], queries: np.ndarray, clients: int, k: int,
                  params: dict[str, Any], warmup: int, engine: str, reference: list[list[str]],
                  exact: list[list[str]]) -> dict[str, Any]:
    """One concurrency level: QPS, latency percentiles, recall@k against exact search, and the
    share of queries whose top-k is identical to ``reference`` (the sequential run's)."""
    spec = parse_url(url)
    if spec.mode != "server":
        kind, results = "threads", _threads(col, queries, clients, k, params, warmup)
    elif engine == "ray":
        kind, results = "ray actors", _ray_actors(spec, connect_options, col.name, queries, clients, k, params, warmup)
    else:
        kind, results = "processes", _processes(spec, connect_options, col.name, queries, clients, k, params, warmup)
    topk: list[list[str]] = [[] for _ in range(len(queries))]
    latencies: list[float] = []
    for share, lat, ids, _, _ in results:
        latencies += lat
        for i, found in zip(share, ids):
            topk[i] = found
    wall = max(r[4] for r in results) - min(r[3] for r in results)
    return {"clients": clients, "kind": kind, "queries": len(latencies), **metrics.latency_summary(latencies),
            "qps": len(latencies) / wall if wall > 0 else None, f"recall@{k}": metrics.recall_vs_exact(topk, exact, k),
            "identical_topk": float(np.mean([a == b for a, b in zip(topk, reference)])) if reference else None}


def while_writing(write_batch: Callable[[int, int], None], total: int,
                  measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``measure()`` while a thread calls ``write_batch(start, stop)`` over ``range(total)`` in
    turn, from the start again, until ``measure`` returns; adds the writer's records/s."""
    done = threading.Event()
    written = [0]
    errors: list[BaseException] = []

    def writer() -> None:
        start = 0
        try:
            while not done.is_set():
                stop = min(start + STREAM_BATCH, total)
                write_batch(start, stop)
                written[0] += stop - start
                start = 0 if stop >= total else stop
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            errors.append(exc)

    thread = threading.Thread(target=writer, name="vecstore-while-ingesting", daemon=True)
    began = time.perf_counter()
    thread.start()
    try:
        out = measure()
    finally:
        done.set()
        thread.join()
    if errors:
        raise errors[0]
    return {**out, "written": written[0], "writes_per_s": written[0] / (time.perf_counter() - began)}
