"""vecstore.aio: the conformance suite in async form (the same case definitions, through
:class:`vecstore.testing.aio.BlockingStore`) on every backend that runs in CI; the event loop
never blocked; cancellation, timeouts, closing, dead servers; text search and ingest."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

import vecstore
import vecstore.aio as aio
from vecstore.testing.aio import BlockingStore
from vecstore.testing.conformance import ConformanceSuite

from .targets import Target, params

ASYNC_TARGETS = [
    Target("faiss-dir", "faiss", "faiss://{tmp}/faiss"),
    Target("chroma-dir", "chromadb", "chroma://{tmp}/chroma"),
    Target("chroma-server", "chromadb", server="chroma"),
    Target("qdrant-dir", "qdrant_client", "qdrant://{tmp}/qdrant"),
    Target("qdrant-edge", "qdrant_edge", "qdrant-edge://{tmp}/edge"),
    Target("milvus-lite-file", "milvus_lite", "milvus://{tmp}/milvus.db"),
    Target("pgvector-server", "psycopg", server="pgvector"),
    Target("qdrant-server", "qdrant_client", server="qdrant"),
    Target("elasticsearch-server", "elasticsearch", server="elasticsearch"),
]
#: backends whose server mode runs on the SDK's native async client
NATIVE = {"chroma-server", "pgvector-server", "qdrant-server", "elasticsearch-server"}


@pytest.fixture(params=params(ASYNC_TARGETS))
def target(request: pytest.FixtureRequest) -> Target:
    return request.param


@pytest.fixture
def target_url(target: Target, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    return target.resolve(tmp_path, request)


class TestAsyncConformance(ConformanceSuite):
    """Every conformance case, each call an ``await`` on vecstore.aio."""

    @pytest.fixture
    def store_factory(self, target_url: str):
        return lambda: BlockingStore(target_url)


class TestQdrantAsyncClient(ConformanceSuite):
    """The Qdrant adapter's native async path — what a Qdrant server gets: ``AsyncQdrantClient``
    — run here on that client's own in-memory local mode (no Qdrant server on this machine)."""

    @pytest.fixture
    def store_factory(self):
        return lambda: BlockingStore("qdrant://", native=True)


def test_server_modes_use_the_native_async_client(target: Target, target_url: str) -> None:
    with BlockingStore(target_url) as store:
        assert store.aio.native == (target.label in NATIVE)


def _filled(n: int = 20_000, dim: int = 64) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, dim)).astype(np.float32), [f"r{i}" for i in range(n)]


def test_the_loop_keeps_ticking_during_50_searches() -> None:
    """A heartbeat on the same loop ticks at least every 50 ms while 50 exact searches run on
    Faiss — and the same 50 searches made on the loop itself (the control) stall it: the
    measurement can fail."""
    vectors, ids = _filled(100_000, 96)

    async def main() -> tuple[float, float]:
        async with await aio.connect("faiss://") as store:
            col = await store.collection("beat", dim=vectors.shape[1], index="flat")
            await col.upsert(ids=ids, vectors=vectors)
            # steady state: the worker threads (and their OpenMP teams) exist, as in a running service
            await asyncio.gather(*(col.search(vectors[i], k=10, exact=True) for i in range(16)))

            async def worst_gap(work) -> float:
                gaps: list[float] = []
                stop = asyncio.Event()

                async def heartbeat() -> None:
                    last = time.perf_counter()
                    while not stop.is_set():
                        await asyncio.sleep(0.005)
                        now = time.perf_counter()
                        gaps.append(now - last)
                        last = now

                beat = asyncio.create_task(heartbeat())
                await asyncio.sleep(0.02)
                results = await work()
                stop.set()
                await beat
                assert [r[0].id for r in results] == ids[:50]
                return max(gaps)

            async def through_aio() -> list:
                return await asyncio.gather(*(col.search(vectors[i], k=10, exact=True) for i in range(50)))

            async def on_the_loop() -> list:
                return [col.sync.search(vectors[i], k=10, exact=True) for i in range(50)]

            return await worst_gap(through_aio), await worst_gap(on_the_loop)

    worst, control = asyncio.run(main())
    assert control > 0.050, f"the control did not stall the loop ({control * 1000:.0f} ms): the test is too light"
    assert worst < 0.050, f"the loop stalled {worst * 1000:.0f} ms"


@pytest.mark.parametrize("server", ["chroma", "pgvector"])
def test_concurrent_calls_on_a_native_client(server: str, vecstore_url_for) -> None:
    """Many coroutines at once on one store over the native async client (the bridge's greenlets
    interleaved): 20 upserts, 30 searches and 10 counts, then every record is there."""
    url = vecstore_url_for(server, server=True)
    vectors, ids = _filled(2_000, 16)

    async def main() -> tuple[int, int]:
        async with await aio.connect(url) as store:
            assert store.native
            name = f"conc-{time.time_ns()}"
            col = await store.collection(name, dim=16)
            writes = [col.upsert(ids=ids[i::20], vectors=vectors[i::20], metadata=[{"part": i}] * len(ids[i::20]))
                      for i in range(20)]
            reads = [col.search(vectors[i], k=5) for i in range(30)] + [col.count() for _ in range(10)]
            await asyncio.gather(*writes, *reads)
            total, part = await col.count(), await col.count({"part": 7})
            hits = await asyncio.gather(*(col.search(vectors[i], k=1) for i in range(0, 2000, 97)))
            assert [h[0].id for h in hits] == [ids[i] for i in range(0, 2000, 97)]
            await store.drop_collection(name)
            return total, part

    assert asyncio.run(main()) == (2000, 100)


@pytest.mark.parametrize("where", ["faiss", "chroma-server"])
def test_cancelled_and_timed_out_writes_finish_whole(where: str, vecstore_url_for) -> None:
    """A write is never cut in half: cancelled or timed out, it runs to its end, and close()
    waits for it (the worker pool on Faiss, the native async client on the Chroma server)."""
    url = "faiss://" if where == "faiss" else vecstore_url_for("chroma", server=True)
    vectors, ids = _filled(6_000, 16)

    async def main() -> tuple[int, int | None]:
        store = await aio.connect(url)
        name = f"cancel-{time.time_ns()}"
        col = await store.collection(name, dim=16)
        loop = asyncio.get_running_loop()
        begun = asyncio.Event()
        def progress(n: int) -> None:
            loop.call_soon_threadsafe(begun.set)
            if where == "faiss":  # in-memory batches take microseconds: slow them (in the worker thread)
                time.sleep(0.002)

        task = asyncio.create_task(col.upsert(ids=ids, vectors=vectors, batch_size=20, progress=progress))
        await begun.wait()  # the first of 300 batches is written: cancel mid-write
        assert task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(vecstore.BackendTimeoutError, match="write goes on"):
            await col.upsert(ids=[f"t{i}" for i in range(3000)], vectors=vectors[:3000], batch_size=300,
                             timeout=0.0001)
        while store._writes:
            await asyncio.sleep(0.01)
        here = await col.count()
        await store.close()
        if where == "faiss":
            return here, None
        async with await aio.connect(url) as again:  # a new connection sees the same
            col = await again.collection(name)
            there = await col.count()
            await again.drop_collection(name)
        return here, there

    here, there = asyncio.run(main())
    assert here == 9000 and there in (None, 9000)


def test_read_timeout_is_a_typed_error_and_the_store_stays_usable() -> None:
    vectors, ids = _filled(50_000, 128)

    async def main() -> None:
        async with await aio.connect("faiss://") as store:
            col = await store.collection("slow", dim=128, index="flat")
            await col.upsert(ids=ids, vectors=vectors)
            with pytest.raises(vecstore.BackendTimeoutError, match="faiss"):
                await col.search_batch(vectors[:2000], k=10, timeout=0.001)
            assert (await col.search(vectors[7], k=1))[0].id == "r7"

    asyncio.run(main())


def test_validation_and_errors_are_the_sync_layers() -> None:
    async def main() -> None:
        async with await aio.connect("faiss://") as store:
            col = await store.collection("v", dim=3)
            with pytest.raises(vecstore.DimensionMismatchError):
                await col.upsert(ids=["a"], vectors=[[1.0, 2.0]])
            with pytest.raises(vecstore.FilterError):
                await col.search([1, 0, 0], filter={"x": {"$regex": "a"}})
            with pytest.raises(vecstore.CollectionNotFoundError):
                await store.collection("nope")
            assert await col.count() == 0

    asyncio.run(main())
    with pytest.raises(vecstore.UnknownBackendError):
        asyncio.run(aio.connect("nosuch://x"))


def test_dead_server_is_a_vecstore_error_with_the_url(vecstore_url_for) -> None:
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(vecstore.BackendUnavailableError) as info:
        asyncio.run(aio.connect(f"chroma://127.0.0.1:{port}"))
    assert f"127.0.0.1:{port}" in str(info.value) and "chroma" in str(info.value)


def test_concurrent_creation_of_one_collection(vecstore_url_for) -> None:
    url = vecstore_url_for("chroma", server=True)

    async def main() -> list[str]:
        async with await aio.connect(url) as store:
            name = f"race-{time.time_ns()}"
            cols = await asyncio.gather(*(store.collection(name, dim=4) for _ in range(8)))
            names = [c.name for c in cols]
            await store.drop_collection(name)
            return names

    assert len(set(asyncio.run(main()))) == 1


def test_text_search_on_a_native_server(vecstore_url_for, tmp_path: Path) -> None:
    """aio.open on a server: the embedding check reads the collection through the native client."""
    from vecstore.embed import HashEmbedder

    url = vecstore_url_for("chroma", server=True)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("Insulin lowers blood glucose.")
    (docs / "b.md").write_text("Volcanoes erupt lava.")
    emb = HashEmbedder(32)
    name = f"text-{time.time_ns()}"
    vecstore.ingest(str(docs), [url], name, embedder=emb)

    async def main() -> str:
        async with await aio.open(url, name, embedder=emb) as col:
            assert col.store.native
            text = (await col.search("volcanoes lava", k=1))[0].text or ""
            await col.store.drop_collection(name)
            return text

    assert "Volcanoes" in asyncio.run(main())


def test_text_search_and_ingest(tmp_path: Path) -> None:
    from vecstore.embed import HashEmbedder

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("Aspirin thins the blood.")
    (docs / "b.md").write_text("Glaciers carve valleys.")
    url = f"faiss://{tmp_path}/vs"
    emb = HashEmbedder(32)

    async def main() -> str:
        await aio.ingest(str(docs), [url], "docs", embedder=emb)
        async with await aio.open(url, "docs", embedder=emb) as docs_col:
            return (await docs_col.search("glaciers valleys", k=1))[0].text or ""

    assert "Glaciers" in asyncio.run(main())
