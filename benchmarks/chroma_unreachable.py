"""Reproduce a Chroma defect with chromadb alone (no vecstore): a stored record
that ``query`` never returns again, though ``get`` and ``count`` still have it.

Each trial: create a collection (l2, dim 8), upsert 40 records, upsert 40 more,
read (get by id, get page by page, count, query), upsert 40 more, then query
every record by its own vector (``n_results=1``).  A trial fails when some
record does not come back as its own nearest neighbour; the script then asks
for the whole collection (``n_results=count``) to show the record is absent.

    python benchmarks/chroma_unreachable.py [--trials 150] [--mode server|embedded]

``server`` starts ``chroma run`` on a free loopback port (the ``chroma`` script
beside this Python); ``embedded`` uses ``PersistentClient`` on a temporary
directory.  Results are in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

import chromadb
import numpy as np


def batch(seed: int, b: int) -> tuple[list[str], np.ndarray]:
    rng = np.random.default_rng([seed, b])
    return [f"b{b}-r{j}" for j in range(40)], rng.normal(size=(40, 8)).astype(np.float32)


def write(col, seed: int, b: int) -> None:
    ids, vectors = batch(seed, b)
    col.upsert(ids=ids, embeddings=vectors, documents=[f"text {i}" for i in ids],
               metadatas=[{"batch": b, "j": j} for j in range(40)])


def read(col, seed: int) -> None:
    ids = batch(seed, 0)[0] + batch(seed, 1)[0]
    col.get(ids=ids, include=["embeddings", "documents", "metadatas"])
    offset = 0
    while col.get(limit=97, offset=offset, include=["embeddings"])["ids"]:
        offset += 97
    col.count()
    col.query(query_embeddings=np.concatenate([batch(seed, 0)[1], batch(seed, 1)[1]]), n_results=1)


def trial(client, seed: int) -> list[str]:
    col = client.create_collection(f"trial{seed}", configuration={"hnsw": {"space": "l2"}})
    write(col, seed, 0)
    write(col, seed, 1)
    read(col, seed)
    write(col, seed, 2)
    ids = [i for b in range(3) for i in batch(seed, b)[0]]
    vectors = np.concatenate([batch(seed, b)[1] for b in range(3)])
    rows = col.query(query_embeddings=vectors, n_results=1)["ids"]
    lost = [i for i, row in zip(ids, rows) if not row or row[0] != i]
    if lost:
        whole = col.query(query_embeddings=vectors[[ids.index(i) for i in lost]], n_results=col.count())["ids"]
        absent = [i for i, row in zip(lost, whole) if i not in row]
        got = col.get(ids=lost)["ids"]
        print(f"trial {seed}: {lost} not their own nearest; absent from a query of all {col.count()}: {absent};"
              f" get() returns {got}", flush=True)
    return lost


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=150)
    parser.add_argument("--mode", choices=["server", "embedded"], default="server")
    args = parser.parse_args()
    path = tempfile.mkdtemp(prefix="chroma-unreachable-")
    server = None
    try:
        if args.mode == "server":
            port = free_port()
            chroma = os.path.join(os.path.dirname(sys.executable), "chroma")
            server = subprocess.Popen([chroma, "run", "--path", path, "--host", "127.0.0.1", "--port", str(port)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(100):
                try:
                    client = chromadb.HttpClient(host="127.0.0.1", port=port)
                    client.heartbeat()
                    break
                except Exception:
                    time.sleep(0.2)
        else:
            client = chromadb.PersistentClient(path=path)
        failed = sum(bool(trial(client, seed)) for seed in range(args.trials))
        print(f"chromadb {chromadb.__version__}, {args.mode}: {failed} of {args.trials} trials lost a record")
        return 1 if failed else 0
    finally:
        if server is not None:
            server.kill()
            server.wait()
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
