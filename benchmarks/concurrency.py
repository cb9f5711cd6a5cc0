"""Queries from 1, 4 and 16 clients at once on all of SciFact, and again while the corpus is
rewritten: a real `chroma run` server and a real PostgreSQL + pgvector server (client processes),
against Faiss HNSW in this process (client threads: the store lives here).

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/concurrency.py [OUT_DIR]

Starts both servers on free ports for the run and stops them afterwards. Writes the comparison
(results.json, summary.md, qps_vs_clients.png, ...) to OUT_DIR (default benchmarks/scifact-concurrency).
"""

from __future__ import annotations

import sys
from pathlib import Path

from _common import SCIFACT

from vecstore.compare import compare
from vecstore.compare.report import table
from vecstore.testing.servers import ChromaServer, postgres_server

HERE = Path(__file__).resolve().parent


def main() -> None:
    out = sys.argv[1] if len(sys.argv) > 1 else str(HERE / "scifact-concurrency")
    chroma = ChromaServer().start()
    try:
        with postgres_server() as pg:
            results = compare(str(SCIFACT), [f"chroma-server={chroma.url}", f"pgvector-server={pg.url}?index=hnsw",
                                             "faiss-hnsw=faiss://?index=hnsw"],
                              out=out, k=10, repeat=1, warmup=20, concurrency=[1, 4, 16], while_ingesting=True,
                              log=lambda m: print(f"[compare] {m}", file=sys.stderr))
    finally:
        chroma.cleanup()
    print(table(results))


if __name__ == "__main__":
    main()
