"""vecstore against hand-written native code, in one process, interleaved: what the layer costs.

    .venv/bin/python benchmarks/overhead.py [--rounds 5] [--backends faiss-flat,faiss-hnsw,faiss-ivf,chroma,...]
        [--out benchmarks/results-overhead.json] [--rss | --no-rss] [--filtered-queries N] [--schema]

Workload (issue "Performance"): 20,000 random unit vectors, dim 384, cosine, metadata
``{cat: i % 10, year: 2000 + i % 25}`` and a short text; 200 queries; k = 10.  Both sides build
the same index with the same parameters and return the same things for each hit — id, score,
text and metadata — so the native side is what an application would write without vecstore:

* **faiss-flat / faiss-hnsw**: ``IndexIDMap2`` over ``IndexFlatIP`` / ``IndexHNSWFlat`` (m 32,
  ef_construction 200, ef_search 64), vectors L2-normalised by ``faiss.normalize_L2``, ids,
  texts and metadata in Python lists; filtered search through ``IDSelectorBatch`` of the labels
  whose ``cat`` matches (a numpy comparison per query).
* **faiss-ivf**: ``IndexIVFFlat`` (nlist 100, nprobe 8, a hash-table direct map for ``get``)
  trained on the first 4,000 vectors, as vecstore's ``ivf`` collection with ``nlist=100`` trains
  itself once it holds 39 × 100; filtered search through ``SearchParametersIVF(sel=...)``.
* **chroma**: chromadb's in-process client (``EphemeralClient``), an HNSW collection (cosine,
  m 16, ef_construction 100, ef_search 100), ``query(include=documents, metadatas, distances)``.
* **chroma-server**: the same calls through ``chromadb.HttpClient`` to one real ``chroma run``
  (started here, on a free loopback port) that both sides share.
* **qdrant-local**: qdrant-client's local mode in memory (its Python engine, exact search),
  ``PointStruct`` batches with payload ``{id, text, cat, year}``, ``query_points`` with a
  ``MatchValue`` filter, ``query_batch_points``, ``retrieve(with_vectors=True)``.
* **qdrant-edge**: a ``qdrant_edge.EdgeShard`` in a temporary directory (cosine, HNSW m 16,
  ef_construct 100), points with UUIDv5 ids and payload ``{id, text, cat, year}``, ``optimize()``
  after the load on both sides (untimed), ``query`` with ``with_payload``, filter
  ``FieldCondition(cat, MatchValue(3))``, ``retrieve(with_vector=True)``.
* **milvus-lite**: ``MilvusClient`` on a temporary ``.db`` file, schema id / vector / text /
  metadata JSON, HNSW (M 16, efConstruction 200, cosine), ``upsert`` in batches, ``flush`` and a
  wait for the index on both sides (untimed), ``search`` with output fields, filter
  ``metadata["cat"] == 3``, ``query(id in [...])``.  Milvus Lite 3 builds a flushed segment's
  index in a background thread while ``describe_index`` already reports every row indexed, so
  both sides wait for that thread (:func:`milvus_lite_wait`; vecstore's ``optimize()`` does the
  same); without the wait the first searches scan by brute force (0.4 s a query against 12 ms)
  while the build takes the CPU from whichever side comes next.

``--schema``: vecstore's collections declare ``schema={"cat": "int", "year": "int"}``, which every
record of the workload meets; Chroma then stores those fields without type tags, as its own client
does (the other backends only check the records against it).

vecstore's collections are made with ``lexical=False``: the native side builds no keyword index,
so neither does the layer (with one, Qdrant and Milvus upserts also analyse every text).

Rounds.  **Upsert rounds**: each of ``--rounds`` rounds builds a fresh pair of collections and
times the upsert of the 20,000 (batches of 1,000 on both sides), the order of the sides
alternating between rounds; only the first round's pair is kept.  **Query rounds**: that pair is
optimised (untimed; the index finished on both sides) and each of ``--rounds`` rounds runs every
query operation on both sides: single-query latency (p50 over the 200 queries, one by one,
alternating native and vecstore query by query), filtered search ``{cat: 3}`` (queries/s, the
same query-by-query alternation), the batched search of the 200 and the ``get`` of 1,000 ids
(``REPEATS`` = 5 calls per side and round, alternating, the median taken).  Medians over rounds.
Agreement: the share of vecstore's top-10 ids that native returned.  Threads: the libraries'
defaults (recorded).

Filtered queries: all 200, except on Milvus Lite, where every 10th (20; ``--filtered-queries``
overrides).  Where a Milvus Lite round's time goes (20,000 × 384, this 2-core machine, one side):
upsert 3-5 s, ``flush`` 1.5 s, background HNSW build 9-18 s, a single query 12 ms once indexed,
but a filtered query 0.7 s: Milvus Lite 3.2 is a Python engine that evaluates a filter on a
JSON field row by row, after converting the whole segment table — vectors included — to Python
objects (``pyarrow.Table.to_pylist``, 0.7 s of it) for every query.  With all 200 filtered
queries that alone was 2 × 140 s a round, and with building both sides each round a round took
more than 3 minutes.

Peak RSS (``--rss``, and by default after the timings): for each backend and side, a fresh
``overhead.py --child-rss BACKEND SIDE`` process generates the workload, notes its peak RSS,
then builds that side, upserts, optimises, runs the single, batched and filtered searches and
the ``get``, and notes the peak again (both in MiB, and the difference: what the side added to
the process's peak; Milvus Lite's engine runs in the process).  The peak is Linux's ``VmHWM``,
not ``ru_maxrss``, which a child inherits from the process that started it (:func:`_maxrss_mib`).
``--rss`` alone runs only these and merges them into the results file.  Writes ``--out`` (default
``benchmarks/results-overhead.json``) after each backend, so a stopped run keeps what it measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import vecstore

OUT = Path(__file__).resolve().parent / "results-overhead.json"
N, DIM, Q, K, BATCH = 20_000, 384, 200, 10, 1_000
NLIST, NPROBE, IVF_TRAIN = 100, 8, 4_000  # vecstore trains an nlist=100 collection at 39 × 100 records
#: times the batched search and the get run on each side per query round (median taken)
REPEATS = 5


def workload(seed: int = 0) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(N, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = rng.normal(size=(Q, DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    return {"ids": [f"d{i}" for i in range(N)], "vectors": vectors, "queries": queries,
            "texts": [f"document number {i}" for i in range(N)],
            "meta": [{"cat": i % 10, "year": 2000 + i % 25} for i in range(N)],
            "get_ids": [f"d{i}" for i in rng.choice(N, 1000, replace=False)]}


# -- native sides ---------------------------------------------------------------------------------


class NativeFaiss:
    def __init__(self, hnsw: bool, ivf: bool = False) -> None:
        import faiss

        self.faiss = faiss
        base = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT) if hnsw else faiss.IndexFlatIP(DIM)
        if hnsw:
            base.hnsw.efConstruction = 200
        self.index = faiss.IndexIDMap2(base)
        self.params = faiss.SearchParametersHNSW(efSearch=64) if hnsw else None
        self.ivf = ivf
        if ivf:  # trained on the first IVF_TRAIN vectors, as vecstore's nlist=100 collection is
            self.index = faiss.index_factory(DIM, f"IVF{NLIST},Flat", faiss.METRIC_INNER_PRODUCT)
            faiss.extract_index_ivf(self.index).set_direct_map_type(faiss.DirectMap.Hashtable)  # for get
            self.params = faiss.SearchParametersIVF(nprobe=NPROBE)
        self.hnsw = hnsw
        self.ids: list[str] = []
        self.texts: list[str] = []
        self.meta: list[dict[str, Any]] = []
        self.label: dict[str, int] = {}
        self.cat = np.empty(0, dtype=np.int64)

    def upsert(self, w: dict[str, Any]) -> None:
        for start in range(0, N, BATCH):
            vec = np.array(w["vectors"][start:start + BATCH], dtype=np.float32)
            self.faiss.normalize_L2(vec)
            if self.ivf and not self.index.is_trained:
                if start + BATCH < IVF_TRAIN:
                    pending = getattr(self, "pending", [])
                    self.pending = [*pending, (start, vec)]
                    continue
                held = [*getattr(self, "pending", []), (start, vec)]
                self.index.train(np.concatenate([v for _, v in held]))
                for s0, v in held:
                    self._add(w, s0, v)
                continue
            self._add(w, start, vec)
        self.cat = np.array([m["cat"] for m in self.meta])

    def _add(self, w: dict[str, Any], start: int, vec: np.ndarray) -> None:
        labels = np.arange(start, start + len(vec), dtype=np.int64)
        self.index.add_with_ids(vec, labels)
        self.ids += w["ids"][start:start + BATCH]
        self.texts += w["texts"][start:start + BATCH]
        self.meta += w["meta"][start:start + BATCH]
        self.label.update(zip(w["ids"][start:start + BATCH], labels.tolist()))

    def _hits(self, labels: np.ndarray, scores: np.ndarray) -> list[tuple[str, float, str, dict[str, Any]]]:
        return [(self.ids[lb], float(sc), self.texts[lb], dict(self.meta[lb])) for lb, sc in zip(labels, scores) if lb >= 0]

    def search(self, q: np.ndarray, flt: dict[str, Any] | None = None) -> list[Any]:
        q = np.array(q, dtype=np.float32).reshape(1, -1)
        self.faiss.normalize_L2(q)
        params = self.params
        if flt is not None:
            sel = self.faiss.IDSelectorBatch(np.flatnonzero(self.cat == flt["cat"]).astype(np.int64))
            params = (self.faiss.SearchParametersHNSW(efSearch=64, sel=sel) if self.hnsw
                      else self.faiss.SearchParametersIVF(nprobe=NPROBE, sel=sel) if self.ivf
                      else self.faiss.SearchParameters(sel=sel))
        d, lab = self.index.search(q, K, params=params)
        return self._hits(lab[0], d[0])

    def search_batch(self, qs: np.ndarray) -> list[Any]:
        qs = np.array(qs, dtype=np.float32)
        self.faiss.normalize_L2(qs)
        d, lab = self.index.search(qs, K, params=self.params)
        return [self._hits(lr, dr) for lr, dr in zip(lab, d)]

    def get(self, ids: list[str]) -> list[Any]:
        labels = [self.label[i] for i in ids]
        vec = self.index.reconstruct_batch(np.asarray(labels, dtype=np.int64))
        return [(self.ids[lb], vec[j], self.texts[lb], dict(self.meta[lb])) for j, lb in enumerate(labels)]


class NativeChroma:
    def __init__(self) -> None:
        import uuid

        import chromadb
        from chromadb.config import Settings

        self.client = chromadb.EphemeralClient(settings=Settings(anonymized_telemetry=False))
        self.col = self.client.create_collection(
            f"native-{uuid.uuid4().hex[:8]}", embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "max_neighbors": 16, "ef_construction": 100, "ef_search": 100}})

    def upsert(self, w: dict[str, Any]) -> None:
        for start in range(0, N, BATCH):
            self.col.upsert(ids=w["ids"][start:start + BATCH], embeddings=w["vectors"][start:start + BATCH],
                            documents=w["texts"][start:start + BATCH], metadatas=w["meta"][start:start + BATCH])

    @staticmethod
    def _hits(res: dict[str, Any], i: int) -> list[Any]:
        return [(id_, 1.0 - d, doc, meta) for id_, d, doc, meta in
                zip(res["ids"][i], res["distances"][i], res["documents"][i], res["metadatas"][i])]

    def search(self, q: np.ndarray, flt: dict[str, Any] | None = None) -> list[Any]:
        res = self.col.query(query_embeddings=q[None], n_results=K, where=flt,
                             include=["documents", "metadatas", "distances"])
        return self._hits(res, 0)

    def search_batch(self, qs: np.ndarray) -> list[Any]:
        res = self.col.query(query_embeddings=qs, n_results=K, include=["documents", "metadatas", "distances"])
        return [self._hits(res, i) for i in range(len(qs))]

    def get(self, ids: list[str]) -> list[Any]:
        res = self.col.get(ids=ids, include=["documents", "metadatas", "embeddings"])
        return list(zip(res["ids"], res["embeddings"], res["documents"], res["metadatas"]))


class NativeChromaServer(NativeChroma):
    """The same calls through ``chromadb.HttpClient`` to the ``chroma run`` server both sides share."""

    def __init__(self) -> None:  # noqa: D107 - no super(): another client
        import uuid

        import chromadb
        from chromadb.config import Settings

        host, port = chroma_server().url.rsplit("/", 1)[-1].split(":")
        self.client = chromadb.HttpClient(host=host, port=int(port), settings=Settings(anonymized_telemetry=False))
        self.col = self.client.create_collection(
            f"native-{uuid.uuid4().hex[:8]}", embedding_function=None,
            configuration={"hnsw": {"space": "cosine", "max_neighbors": 16, "ef_construction": 100, "ef_search": 100}})


_SERVER: list[Any] = []


def chroma_server() -> Any:
    """One ``chroma run`` for the whole benchmark (started on first use, stopped at exit)."""
    if not _SERVER:
        import atexit

        from vecstore.testing.servers import ChromaServer

        server = ChromaServer().start()
        atexit.register(server.cleanup)
        _SERVER.append(server)
    return _SERVER[0]


class NativeQdrantLocal:
    """qdrant-client's local mode in memory: ``upsert`` of ``PointStruct`` batches (UUIDv5 ids,
    payload ``{id, text, cat, year}``), ``query_points`` with payload, ``retrieve`` with vectors."""

    def __init__(self) -> None:
        import uuid

        from qdrant_client import QdrantClient, models

        self.m, self.uuid = models, uuid
        self.client = QdrantClient(":memory:")
        self.client.create_collection("native", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE))

    def _pid(self, id_: str) -> str:
        return str(self.uuid.uuid5(self.uuid.NAMESPACE_URL, id_))

    def upsert(self, w: dict[str, Any]) -> None:
        for start in range(0, N, BATCH):
            points = [self.m.PointStruct(id=self._pid(i), vector=v, payload={"id": i, "text": t, **m}) for i, v, t, m in
                      zip(w["ids"][start:start + BATCH], w["vectors"][start:start + BATCH].tolist(),
                          w["texts"][start:start + BATCH], w["meta"][start:start + BATCH])]
            self.client.upsert("native", points)

    @staticmethod
    def _hit(p: Any) -> tuple[str, float, str, dict[str, Any]]:
        body = dict(p.payload)
        return (body.pop("id"), float(p.score), body.pop("text"), body)

    def search(self, q: np.ndarray, flt: dict[str, Any] | None = None) -> list[Any]:
        m = self.m
        f = None if flt is None else m.Filter(must=[m.FieldCondition(key="cat", match=m.MatchValue(value=flt["cat"]))])
        res = self.client.query_points("native", query=q.tolist(), limit=K, query_filter=f, with_payload=True)
        return [self._hit(p) for p in res.points]

    def search_batch(self, qs: np.ndarray) -> list[Any]:
        requests = [self.m.QueryRequest(query=q, limit=K, with_payload=True) for q in qs.tolist()]
        return [[self._hit(p) for p in r.points] for r in self.client.query_batch_points("native", requests)]

    def get(self, ids: list[str]) -> list[Any]:
        points = self.client.retrieve("native", [self._pid(i) for i in ids], with_payload=True, with_vectors=True)
        return [(p.payload["id"], np.asarray(p.vector, dtype=np.float32), p.payload["text"], p.payload) for p in points]

    def close(self) -> None:
        self.client.close()


class NativeQdrantEdge:
    def __init__(self) -> None:
        import tempfile
        import uuid

        import qdrant_edge as qe

        self.qe, self.uuid = qe, uuid
        self.tmp = tempfile.mkdtemp(prefix="native-edge-")
        config = qe.EdgeConfig(vectors=qe.EdgeVectorParams(size=DIM, distance=qe.Distance.Cosine),
                               hnsw_config=qe.HnswIndexConfig(m=16, ef_construct=100, full_scan_threshold=10_000))
        self.shard = qe.EdgeShard.create(f"{self.tmp}/shard", config)

    def _pid(self, id_: str) -> str:
        return str(self.uuid.uuid5(self.uuid.NAMESPACE_URL, id_))

    def upsert(self, w: dict[str, Any]) -> None:
        qe = self.qe
        for start in range(0, N, BATCH):
            points = [qe.Point(self._pid(i), v, {"id": i, "text": t, **m}) for i, v, t, m in
                      zip(w["ids"][start:start + BATCH], w["vectors"][start:start + BATCH].tolist(),
                          w["texts"][start:start + BATCH], w["meta"][start:start + BATCH])]
            self.shard.update(qe.UpdateOperation.upsert_points(points))

    def optimize(self) -> None:
        self.shard.optimize()

    @staticmethod
    def _hit(p: Any) -> tuple[str, float, str, dict[str, Any]]:
        body = dict(p.payload)
        return (body.pop("id"), float(p.score), body.pop("text"), body)

    def search(self, q: np.ndarray, flt: dict[str, Any] | None = None) -> list[Any]:
        qe = self.qe
        f = None if flt is None else qe.Filter(must=[qe.FieldCondition(key="cat", match=qe.MatchValue(flt["cat"]))])
        return [self._hit(p) for p in self.shard.query(qe.QueryRequest(limit=K, query=qe.Query.Nearest(q.tolist()),
                                                                        filter=f, with_payload=True))]

    def search_batch(self, qs: np.ndarray) -> list[Any]:
        qe = self.qe
        requests = [qe.QueryRequest(limit=K, query=qe.Query.Nearest(q), with_payload=True) for q in qs.tolist()]
        return [[self._hit(p) for p in points] for points in self.shard.query_batch(qe.QueryBatchRequest(requests))]

    def get(self, ids: list[str]) -> list[Any]:
        points = self.shard.retrieve([self._pid(i) for i in ids], with_payload=True, with_vector=True)
        return [(p.payload["id"], np.asarray(p.vector, dtype=np.float32), p.payload["text"], p.payload) for p in points]

    def close(self) -> None:
        import shutil

        self.shard.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


class NativeMilvusLite:
    def __init__(self) -> None:
        import tempfile

        from pymilvus import DataType, MilvusClient

        self.tmp = tempfile.mkdtemp(prefix="native-milvus-")
        self.client = MilvusClient(f"{self.tmp}/m.db")
        schema = self.client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("id", DataType.VARCHAR, is_primary=True, max_length=65_535)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        schema.add_field("text", DataType.VARCHAR, max_length=65_535, nullable=True)
        schema.add_field("metadata", DataType.JSON)
        index = self.client.prepare_index_params()
        index.add_index(field_name="vector", index_type="HNSW", metric_type="COSINE",
                        params={"M": 16, "efConstruction": 200})
        self.client.create_collection("native", schema=schema, index_params=index, consistency_level="Strong")

    def upsert(self, w: dict[str, Any]) -> None:
        for start in range(0, N, BATCH):
            rows = [{"id": i, "vector": v, "text": t, "metadata": m} for i, v, t, m in
                    zip(w["ids"][start:start + BATCH], w["vectors"][start:start + BATCH].tolist(),
                        w["texts"][start:start + BATCH], w["meta"][start:start + BATCH])]
            self.client.upsert("native", rows)

    def optimize(self) -> None:
        self.client.flush("native")
        milvus_lite_wait(f"{self.tmp}/m.db", "native")
        while True:
            info = self.client.describe_index("native", "vector")
            if info.get("pending_index_rows", 0) == 0 and info.get("indexed_rows") == info.get("total_rows"):
                return
            time.sleep(0.2)

    @staticmethod
    def _hits(row: list[Any]) -> list[Any]:
        return [(h["entity"]["id"], float(h["distance"]), h["entity"]["text"], h["entity"]["metadata"]) for h in row]

    def search(self, q: np.ndarray, flt: dict[str, Any] | None = None) -> list[Any]:
        expr = "" if flt is None else f'metadata["cat"] == {int(flt["cat"])}'
        res = self.client.search("native", data=[q.tolist()], limit=K, filter=expr, anns_field="vector",
                                 output_fields=["id", "text", "metadata"])
        return self._hits(res[0])

    def search_batch(self, qs: np.ndarray) -> list[Any]:
        res = self.client.search("native", data=qs.tolist(), limit=K, anns_field="vector",
                                 output_fields=["id", "text", "metadata"])
        return [self._hits(row) for row in res]

    def get(self, ids: list[str]) -> list[Any]:
        expr = "id in [" + ", ".join(json.dumps(i) for i in ids) + "]"
        rows = self.client.query("native", filter=expr, output_fields=["id", "text", "metadata", "vector"])
        return [(r["id"], np.asarray(r["vector"], dtype=np.float32), r["text"], r["metadata"]) for r in rows]

    def close(self) -> None:
        import shutil

        from milvus_lite.server_manager import server_manager_instance

        self.client.close()
        server_manager_instance.release_server(f"{self.tmp}/m.db")  # as vecstore's close() does
        shutil.rmtree(self.tmp, ignore_errors=True)


def milvus_lite_wait(path: str, name: str) -> None:
    """Wait for Milvus Lite's background compaction and index build on collection ``name`` of the
    in-process server of ``path`` (``describe_index`` reports ``Finished`` before it is)."""
    from milvus_lite.server_manager import server_manager_instance

    entry = server_manager_instance._servers.get(os.path.abspath(path))
    if entry is not None:
        entry[1].get_collection(name)._wait_for_bg()


# -- vecstore side --------------------------------------------------------------------------------


class Vecstore:
    def __init__(self, url: str, index: str, **options: Any) -> None:
        self.tmp: str | None = None
        if "{tmp}" in url:
            import tempfile

            self.tmp = tempfile.mkdtemp(prefix="vecstore-overhead-")
            url = url.format(tmp=self.tmp)
        self.store = vecstore.connect(url)
        self.col = self.store.collection(f"vs{time.time_ns()}", dim=DIM, metric="cosine", index=index,
                                         lexical=False, schema=SCHEMA or None, **options)

    def optimize(self) -> None:
        self.col.optimize()

    def upsert(self, w: dict[str, Any]) -> None:
        self.col.upsert(ids=w["ids"], vectors=w["vectors"], texts=w["texts"], metadata=w["meta"], batch_size=BATCH)

    def search(self, q: np.ndarray, flt: dict[str, Any] | None = None) -> list[Any]:
        return self.col.search(q, K, filter=flt)

    def search_batch(self, qs: np.ndarray) -> list[Any]:
        return self.col.search_batch(qs, K)

    def get(self, ids: list[str]) -> list[Any]:
        return self.col.get(ids)

    def close(self) -> None:
        self.store.close()
        if self.tmp:
            import shutil

            shutil.rmtree(self.tmp, ignore_errors=True)


BACKENDS: dict[str, tuple[Callable[[], Any], Callable[[], Vecstore]]] = {
    "faiss-flat": (lambda: NativeFaiss(hnsw=False), lambda: Vecstore("faiss://", "flat")),
    "faiss-hnsw": (lambda: NativeFaiss(hnsw=True), lambda: Vecstore("faiss://", "hnsw", m=32, ef_construction=200)),
    "faiss-ivf": (lambda: NativeFaiss(hnsw=False, ivf=True),
                  lambda: Vecstore("faiss://", "ivf", nlist=NLIST, nprobe=NPROBE)),
    "chroma": (NativeChroma, lambda: Vecstore("chroma://", "hnsw", m=16, ef_construction=100, ef_search=100)),
    "chroma-server": (NativeChromaServer, lambda: Vecstore(chroma_server().url, "hnsw", m=16, ef_construction=100,
                                                           ef_search=100)),
    "qdrant-local": (NativeQdrantLocal, lambda: Vecstore("qdrant://", "flat")),
    "qdrant-edge": (NativeQdrantEdge, lambda: Vecstore("qdrant-edge://{tmp}/e", "hnsw", m=16, ef_construction=100)),
    "milvus-lite": (NativeMilvusLite, lambda: Vecstore("milvus://{tmp}/m.db", "hnsw", m=16, ef_construction=200)),
}


#: ``--schema``: vecstore's collections require ``cat`` and ``year`` as ints, as the workload's
#: records all hold them (Chroma then stores them without type tags).
SCHEMA: dict[str, str] = {}

#: Filtered queries per round where all 200 would take minutes (see the module docstring).
FILTERED_EVERY = {"milvus-lite": 10}


def _ids(hits: list[Any]) -> list[str]:
    return [h[0] if isinstance(h, tuple) else h.id for h in hits]


def _close(side: Any) -> None:
    if hasattr(side, "close"):
        side.close()


def _filtered_queries(name: str, w: dict[str, Any], count: int | None) -> np.ndarray:
    queries = w["queries"]
    if count is not None:
        return queries[np.linspace(0, len(queries) - 1, min(count, len(queries))).astype(int)]
    return queries[::FILTERED_EVERY.get(name, 1)]


def upsert_round(name: str, w: dict[str, Any], native_first: bool, keep: bool) -> tuple[dict[str, float], Any]:
    """Time the upsert into a fresh pair of collections; returns the times and the pair (or ``None``)."""
    make_native, make_vs = BACKENDS[name]
    sides = {"native": make_native(), "vecstore": make_vs()}
    out: dict[str, float] = {}
    for side in (["native", "vecstore"] if native_first else ["vecstore", "native"]):
        started = time.perf_counter()
        sides[side].upsert(w)
        out[side] = time.perf_counter() - started
    if keep:
        return out, sides
    for side in sides.values():
        _close(side)
    return out, None


def _alternating(sides: dict[str, Any], order: list[str], queries: np.ndarray,
                 flt: dict[str, Any] | None) -> tuple[dict[str, list[float]], dict[str, list[list[str]]]]:
    """Each query on both sides, which side goes first alternating query by query."""
    lat: dict[str, list[float]] = {s: [] for s in sides}
    found: dict[str, list[list[str]]] = {s: [] for s in sides}
    for qi, q in enumerate(queries):
        for side in (order if qi % 2 == 0 else order[::-1]):
            started = time.perf_counter()
            hits = sides[side].search(q) if flt is None else sides[side].search(q, flt)
            lat[side].append(time.perf_counter() - started)
            found[side].append(_ids(hits))
    return lat, found


def query_round(sides: dict[str, Any], w: dict[str, Any], filtered: np.ndarray, native_first: bool) -> dict[str, Any]:
    order = ["native", "vecstore"] if native_first else ["vecstore", "native"]
    out: dict[str, dict[str, float]] = {s: {} for s in sides}
    lat, found = _alternating(sides, order, w["queries"], None)
    flat, _ = _alternating(sides, order, filtered, {"cat": 3})
    batch: dict[str, list[float]] = {s: [] for s in sides}
    get: dict[str, list[float]] = {s: [] for s in sides}
    for rep in range(REPEATS):  # each a call per side, which side first alternating
        for side in (order if rep % 2 == 0 else order[::-1]):
            started = time.perf_counter()
            sides[side].search_batch(w["queries"])
            batch[side].append(time.perf_counter() - started)
            started = time.perf_counter()
            sides[side].get(w["get_ids"])
            get[side].append(time.perf_counter() - started)
    for side in order:
        out[side]["single_p50_ms"] = statistics.median(lat[side]) * 1000
        out[side]["filtered_qps"] = len(filtered) / sum(flat[side])
        out[side]["batch_s"] = statistics.median(batch[side])
        out[side]["get_1000_ms"] = statistics.median(get[side]) * 1000
    agree = np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(found["native"], found["vecstore"])])
    return {**out, "agreement": float(agree)}


def measure(name: str, w: dict[str, Any], rounds: int, filtered_count: int | None) -> dict[str, Any]:
    upserts, sides = [], None
    for r in range(rounds):
        times, pair = upsert_round(name, w, native_first=r % 2 == 0, keep=r == 0)
        upserts.append(times)
        sides = sides or pair
        print(f"  {name} upsert round {r + 1}/{rounds}: native {times['native']:.3g} s, "
              f"vecstore {times['vecstore']:.3g} s", flush=True)
    assert sides is not None
    for side in sides.values():  # untimed, one side after the other: both search a finished index
        if hasattr(side, "optimize"):
            side.optimize()
    filtered = _filtered_queries(name, w, filtered_count)
    per_round = []
    try:
        for r in range(rounds):
            per_round.append(query_round(sides, w, filtered, native_first=r % 2 == 0))
            print(f"  {name} query round {r + 1}/{rounds} done", flush=True)
    finally:
        for side in sides.values():
            _close(side)
    med = {side: {"upsert_s": statistics.median(u[side] for u in upserts),
                  **{key: statistics.median(r[side][key] for r in per_round) for key in per_round[0][side]}}
           for side in ("native", "vecstore")}
    ratio = {key: med["vecstore"][key] / med["native"][key] for key in med["native"]}
    return {**med, "ratio_vecstore_over_native": ratio,
            "agreement": statistics.median(r["agreement"] for r in per_round),
            "upsert_rounds": rounds, "query_rounds": rounds, "filtered_queries": len(filtered),
            "per_round": {"upsert": upserts, "query": per_round}}


# -- peak RSS, one fresh process per backend and side -----------------------------------------------


def _maxrss_mib() -> float:
    """This process's peak RSS in MiB: ``VmHWM`` (:func:`vecstore.compare.run._peak_rss`).

    Not ``ru_maxrss``: Linux carries the peak of the memory image an ``exec`` replaced into the
    new program's ``ru_maxrss``, and ``subprocess`` starts the child from a copy of this
    (large) process, so a child's ``ru_maxrss`` starts at the parent's peak (1,094 MiB after
    the Milvus Lite timings) and hides anything below it.  ``VmHWM`` belongs to the new image."""
    from vecstore.compare.run import _peak_rss

    return (_peak_rss() or 0) / 2**20


def child_rss(name: str, side_name: str, filtered_count: int | None) -> None:
    """The ``--child-rss`` process: one side's whole workload, peak RSS before and after (MiB)."""
    w = workload()
    before = _maxrss_mib()
    make_native, make_vs = BACKENDS[name]
    side = make_native() if side_name == "native" else make_vs()
    side.upsert(w)
    if hasattr(side, "optimize"):
        side.optimize()
    for q in w["queries"]:
        side.search(q)
    side.search_batch(w["queries"])
    for q in _filtered_queries(name, w, filtered_count):
        side.search(q, {"cat": 3})
    side.get(w["get_ids"])
    after = _maxrss_mib()
    _close(side)
    print(json.dumps({"backend": name, "side": side_name, "peak_rss_before_mib": before, "peak_rss_after_mib": after}))


def measure_rss(name: str, filtered_count: int | None) -> dict[str, Any]:
    import subprocess
    import sys

    out: dict[str, Any] = {}
    for side in ("native", "vecstore"):
        cmd = [sys.executable, str(Path(__file__).resolve()), "--child-rss", name, side] + ["--schema"] * bool(SCHEMA)
        if filtered_count is not None:
            cmd += ["--filtered-queries", str(filtered_count)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
        if proc.returncode != 0 or not lines:
            out[side] = {"error": f"exit {proc.returncode}: {proc.stderr.strip()[-500:]}"}
            continue
        got = json.loads(lines[-1])
        before, after = got["peak_rss_before_mib"], got["peak_rss_after_mib"]
        out[side] = {"before_mib": round(before, 1), "peak_mib": round(after, 1), "added_mib": round(after - before, 1)}
    if all("added_mib" in out[s] for s in ("native", "vecstore")):
        out["vecstore_minus_native_mib"] = round(out["vecstore"]["added_mib"] - out["native"]["added_mib"], 1)
    return out


def _write(path: Path, results: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=2) + "\n")
    tmp.replace(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--out", type=Path, default=OUT, help="results JSON (written after each backend)")
    parser.add_argument("--filtered-queries", type=int, default=None,
                        help="filtered queries per round on every backend (default: all 200, Milvus Lite 20)")
    rss = parser.add_mutually_exclusive_group()
    rss.add_argument("--rss", action="store_true", help="only measure peak RSS (merged into --out)")
    rss.add_argument("--no-rss", action="store_true", help="skip the peak-RSS processes")
    parser.add_argument("--schema", action="store_true",
                        help="vecstore's collections declare schema={'cat': 'int', 'year': 'int'}")
    parser.add_argument("--child-rss", nargs=2, metavar=("BACKEND", "SIDE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.schema:
        SCHEMA.update(cat="int", year="int")
    if args.child_rss:
        child_rss(args.child_rss[0], args.child_rss[1], args.filtered_queries)
        return
    names = args.backends.split(",")
    unknown = [n for n in names if n not in BACKENDS]
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; known: {', '.join(BACKENDS)}")
    if args.rss:
        merged = json.loads(args.out.read_text()) if args.out.exists() else {"backends": {}}
        for name in names:
            merged["backends"].setdefault(name, {})["peak_rss"] = rss_result = measure_rss(name, args.filtered_queries)
            print(f"{name} peak RSS: {json.dumps(rss_result)}", flush=True)
            _write(args.out, merged)
        return
    import faiss

    w = workload()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "faiss_omp_threads": faiss.omp_get_max_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "workload": {"n": N, "dim": DIM, "queries": Q, "k": K, "batch": BATCH, "rounds": args.rounds,
                     "vecstore_schema": dict(SCHEMA)},
        "backends": {},
    }
    for name in names:
        res = results["backends"][name] = measure(name, w, args.rounds, args.filtered_queries)
        med, ratio = res, res["ratio_vecstore_over_native"]
        print(f"{name}: " + ", ".join(f"{k} {med['native'][k]:.3g} vs {med['vecstore'][k]:.3g} ({ratio[k]:.2f})"
                                      for k in med["native"]) + f"; agreement {res['agreement']:.3f}", flush=True)
        _write(args.out, results)
    if not args.no_rss:
        for name in names:
            results["backends"][name]["peak_rss"] = rss_result = measure_rss(name, args.filtered_queries)
            print(f"{name} peak RSS: {json.dumps(rss_result)}", flush=True)
            _write(args.out, results)


if __name__ == "__main__":
    main()
