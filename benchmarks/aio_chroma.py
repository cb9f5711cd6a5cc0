"""vecstore.aio against a real Chroma server: 200 queries with 16 in flight through the async
API (chromadb's native ``AsyncHttpClient``) against the same 200 through the sync API one
after another; and, as the ceiling, the same 200 with 16 in flight through chromadb's
``AsyncHttpClient`` written by hand.

    python benchmarks/aio_chroma.py [--records 5000] [--queries 200] [--in-flight 16] [--rounds 7]

Starts ``chroma run`` on a free loopback port (the ``chroma`` script beside this Python), fills
one collection (dim 384, cosine, HNSW defaults) with random unit vectors, then times the two
ways in alternating rounds and reports medians and their ratio; both must return the same ids.
Writes ``benchmarks/results-aio-chroma.json``; the figures are in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

import vecstore
import vecstore.aio
from vecstore.testing.servers import ChromaServer

OUT = Path(__file__).resolve().parent / "results-aio-chroma.json"


def sync_run(url: str, name: str, queries: np.ndarray, k: int) -> tuple[float, list[list[str]]]:
    with vecstore.connect(url) as store:
        col = store.collection(name)
        col.search(queries[0], k=k)  # connection warm
        started = time.perf_counter()
        ids = [[h.id for h in col.search(q, k=k)] for q in queries]
        return time.perf_counter() - started, ids


async def async_run(url: str, name: str, queries: np.ndarray, k: int, in_flight: int) -> tuple[float, list[list[str]]]:
    async with await vecstore.aio.connect(url) as store:
        assert store.native, "Chroma server mode runs on chromadb's AsyncHttpClient"
        col = await store.collection(name)
        await col.search(queries[0], k=k)
        gate = asyncio.Semaphore(in_flight)

        async def one(q: np.ndarray) -> list[str]:
            async with gate:
                return [h.id for h in await col.search(q, k=k)]

        started = time.perf_counter()
        ids = await asyncio.gather(*(one(q) for q in queries))
        return time.perf_counter() - started, list(ids)


async def native_run(host: str, port: int, name: str, queries: np.ndarray, k: int, in_flight: int) -> float:
    """The same queries through chromadb's ``AsyncHttpClient`` by hand (no vecstore): the ceiling."""
    import chromadb

    client = await chromadb.AsyncHttpClient(host=host, port=port)
    col = await client.get_collection(name)
    unit = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    gate = asyncio.Semaphore(in_flight)

    async def one(q: np.ndarray) -> list[str]:
        async with gate:
            res = await col.query(query_embeddings=q[None], n_results=k, include=["documents", "metadatas", "distances"])
            return list(res["ids"][0])

    await one(unit[0])
    started = time.perf_counter()
    await asyncio.gather(*(one(q) for q in unit))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("-k", type=int, default=10)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(args.records, 384)).astype(np.float32)
    queries = rng.normal(size=(args.queries, 384)).astype(np.float32)
    server = ChromaServer().start()
    try:
        with vecstore.connect(server.url) as store:
            store.collection("bench", dim=384).upsert(ids=[f"r{i}" for i in range(args.records)], vectors=vectors,
                                                      metadata=[{"i": i} for i in range(args.records)])
        import psutil

        server_proc = psutil.Process(server.proc.pid)  # type: ignore[union-attr]
        sync_s, async_s, native_s, server_cores, same = [], [], [], [], True
        for r in range(args.rounds):  # taking turns, so drift hits every side alike
            s, sync_ids = sync_run(server.url, "bench", queries, args.k)
            before = server_proc.cpu_times()
            a, async_ids = asyncio.run(async_run(server.url, "bench", queries, args.k, args.in_flight))
            after = server_proc.cpu_times()
            server_cores.append((after.user + after.system - before.user - before.system) / a)
            n = asyncio.run(native_run("127.0.0.1", server.port, "bench", queries, args.k, args.in_flight))
            sync_s.append(s)
            async_s.append(a)
            native_s.append(n)
            same = same and sync_ids == async_ids
            print(f"round {r + 1}: sync {args.queries / s:.0f} q/s, vecstore.aio {args.queries / a:.0f} q/s,"
                  f" chromadb AsyncHttpClient by hand {args.queries / n:.0f} q/s")
    finally:
        server.cleanup()
    sync_qps = args.queries / statistics.median(sync_s)
    async_qps = args.queries / statistics.median(async_s)
    native_qps = args.queries / statistics.median(native_s)
    result = {
        "records": args.records, "queries": args.queries, "in_flight": args.in_flight, "rounds": args.rounds,
        "k": args.k, "sync_qps": round(sync_qps, 1), "async_qps": round(async_qps, 1),
        "ratio": round(async_qps / sync_qps, 2), "same_ids": same, "sync_seconds": sync_s, "async_seconds": async_s,
        "native_async_qps": round(native_qps, 1), "aio_vs_native_async": round(async_qps / native_qps, 2),
        "native_seconds": native_s,
        "server_cpu_cores_during_aio": round(statistics.median(server_cores), 2),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "chromadb": __import__("chromadb").__version__,
    }
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"sync {sync_qps:.0f} q/s, vecstore.aio ({args.in_flight} in flight) {async_qps:.0f} q/s:"
          f" {async_qps / sync_qps:.2f}x; chromadb's async client by hand {native_qps:.0f} q/s"
          f" (vecstore.aio at {async_qps / native_qps:.2f} of it); same ids: {same};"
          f" the server used {statistics.median(server_cores):.2f} cores during the async runs")


if __name__ == "__main__":
    main()
