"""vecstore against hand-written native code, in one process, interleaved: what the layer costs.

    .venv/bin/python benchmarks/overhead.py [--rounds 5] [--backends faiss-flat,faiss-hnsw,chroma]

Workload (issue "Performance"): 20,000 random unit vectors, dim 384, cosine, metadata
``{cat: i % 10, year: 2000 + i % 25}`` and a short text; 200 queries; k = 10.  Both sides build
the same index with the same parameters and return the same things for each hit — id, score,
text and metadata — so the native side is what an application would write without vecstore:

* **faiss-flat / faiss-hnsw**: ``IndexIDMap2`` over ``IndexFlatIP`` / ``IndexHNSWFlat`` (m 32,
  ef_construction 200, ef_search 64), vectors L2-normalised by ``faiss.normalize_L2``, ids,
  texts and metadata in Python lists; filtered search through ``IDSelectorBatch`` of the labels
  whose ``cat`` matches (a numpy comparison per query).
* **chroma**: chromadb's in-process client (``EphemeralClient``), an HNSW collection (cosine,
  m 16, ef_construction 100, ef_search 100), ``query(include=documents, metadatas, distances)``.
* **qdrant-edge**: a ``qdrant_edge.EdgeShard`` in a temporary directory (cosine, HNSW m 16,
  ef_construct 100), points with UUIDv5 ids and payload ``{id, text, cat, year}``, ``optimize()``
  after the load on both sides (untimed), ``query`` with ``with_payload``, filter
  ``FieldCondition(cat, MatchValue(3))``, ``retrieve(with_vector=True)``.
* **milvus-lite**: ``MilvusClient`` on a temporary ``.db`` file, schema id / vector / text /
  metadata JSON, HNSW (M 16, efConstruction 200, cosine), ``upsert`` in batches, ``flush`` and a
  wait for the index on both sides (untimed), ``search`` with output fields, filter
  ``metadata["cat"] == 3``, ``query(id in [...])``.

vecstore's collections are made with ``lexical=False``: the native side builds no keyword index,
so neither does the layer (with one, Qdrant and Milvus upserts also analyse every text).

Operations: upsert of the 20,000 (batches of 1,000 on both sides), single-query latency (p50
over the 200 queries, one by one, alternating native and vecstore query by query), one batched
search of the 200, filtered search ``{cat: 3}`` (queries/s), ``get`` of 1,000 ids.  Each round
runs every operation on both sides, the order of the sides alternating between rounds; medians
over rounds.  Agreement: the share of vecstore's top-10 ids that native returned.  Threads: the
libraries' defaults (recorded).  Writes ``benchmarks/results-overhead.json``.
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
    def __init__(self, hnsw: bool) -> None:
        import faiss

        self.faiss = faiss
        base = faiss.IndexHNSWFlat(DIM, 32, faiss.METRIC_INNER_PRODUCT) if hnsw else faiss.IndexFlatIP(DIM)
        if hnsw:
            base.hnsw.efConstruction = 200
        self.index = faiss.IndexIDMap2(base)
        self.params = faiss.SearchParametersHNSW(efSearch=64) if hnsw else None
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
            labels = np.arange(start, start + len(vec), dtype=np.int64)
            self.index.add_with_ids(vec, labels)
            self.ids += w["ids"][start:start + BATCH]
            self.texts += w["texts"][start:start + BATCH]
            self.meta += w["meta"][start:start + BATCH]
            self.label.update(zip(w["ids"][start:start + BATCH], labels.tolist()))
        self.cat = np.array([m["cat"] for m in self.meta])

    def _hits(self, labels: np.ndarray, scores: np.ndarray) -> list[tuple[str, float, str, dict[str, Any]]]:
        return [(self.ids[lb], float(sc), self.texts[lb], dict(self.meta[lb])) for lb, sc in zip(labels, scores) if lb >= 0]

    def search(self, q: np.ndarray, flt: dict[str, Any] | None = None) -> list[Any]:
        q = np.array(q, dtype=np.float32).reshape(1, -1)
        self.faiss.normalize_L2(q)
        params = self.params
        if flt is not None:
            sel = self.faiss.IDSelectorBatch(np.flatnonzero(self.cat == flt["cat"]).astype(np.int64))
            params = (self.faiss.SearchParametersHNSW(efSearch=64, sel=sel) if self.hnsw
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

        self.client.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


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
                                         lexical=False, **options)

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
    "chroma": (NativeChroma, lambda: Vecstore("chroma://", "hnsw", m=16, ef_construction=100, ef_search=100)),
    "qdrant-edge": (NativeQdrantEdge, lambda: Vecstore("qdrant-edge://{tmp}/e", "hnsw", m=16, ef_construction=100)),
    "milvus-lite": (NativeMilvusLite, lambda: Vecstore("milvus://{tmp}/m.db", "hnsw", m=16, ef_construction=200)),
}


def _ids(hits: list[Any]) -> list[str]:
    return [h[0] if isinstance(h, tuple) else h.id for h in hits]


def one_round(name: str, w: dict[str, Any], native_first: bool) -> dict[str, Any]:
    make_native, make_vs = BACKENDS[name]
    sides = {"native": make_native(), "vecstore": make_vs()}
    order = ["native", "vecstore"] if native_first else ["vecstore", "native"]
    out: dict[str, dict[str, float]] = {s: {} for s in sides}
    for side in order:
        started = time.perf_counter()
        sides[side].upsert(w)
        out[side]["upsert_s"] = time.perf_counter() - started
        if hasattr(sides[side], "optimize"):
            sides[side].optimize()  # untimed: both sides search a finished index
    lat: dict[str, list[float]] = {s: [] for s in sides}
    found: dict[str, list[list[str]]] = {s: [] for s in sides}
    for qi, q in enumerate(w["queries"]):  # query by query, alternating which side goes first
        for side in (order if qi % 2 == 0 else order[::-1]):
            started = time.perf_counter()
            hits = sides[side].search(q)
            lat[side].append(time.perf_counter() - started)
            found[side].append(_ids(hits))
    for side in order:
        out[side]["single_p50_ms"] = statistics.median(lat[side]) * 1000
        started = time.perf_counter()
        sides[side].search_batch(w["queries"])
        out[side]["batch_s"] = time.perf_counter() - started
        started = time.perf_counter()
        for q in w["queries"]:
            sides[side].search(q, {"cat": 3})
        out[side]["filtered_qps"] = len(w["queries"]) / (time.perf_counter() - started)
        started = time.perf_counter()
        sides[side].get(w["get_ids"])
        out[side]["get_1000_ms"] = (time.perf_counter() - started) * 1000
    agree = np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(found["native"], found["vecstore"])])
    for side in sides.values():
        if hasattr(side, "close"):
            side.close()
    return {**out, "agreement": float(agree)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    import faiss

    w = workload()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "faiss_omp_threads": faiss.omp_get_max_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "workload": {"n": N, "dim": DIM, "queries": Q, "k": K, "batch": BATCH, "rounds": args.rounds},
        "backends": {},
    }
    for name in args.backends.split(","):
        rounds = [one_round(name, w, native_first=r % 2 == 0) for r in range(args.rounds)]
        med = {side: {key: statistics.median(r[side][key] for r in rounds) for key in rounds[0][side]}
               for side in ("native", "vecstore")}
        ratio = {key: (med["vecstore"][key] / med["native"][key] if key != "filtered_qps"
                       else med["vecstore"][key] / med["native"][key]) for key in med["native"]}
        results["backends"][name] = {**med, "ratio_vecstore_over_native": ratio,
                                     "agreement": statistics.median(r["agreement"] for r in rounds)}
        print(f"{name}: " + ", ".join(f"{k} {med['native'][k]:.3g} vs {med['vecstore'][k]:.3g} ({ratio[k]:.2f})"
                                      for k in med["native"]) + f"; agreement {results['backends'][name]['agreement']:.3f}")
    OUT.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
