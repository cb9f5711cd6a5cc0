"""Does `vecstore ingest` stream?  Peak memory at 10,000 and at 100,000 documents.

    .venv/bin/python benchmarks/ingest_rss.py [--sizes 10000,100000] [--targets faiss,pgvector]
                                              [--model vecstore/hash-trigram-384] [--work /tmp/vecstore-ingest-rss]

Synthetic documents (a JSONL file of 12 words each drawn from a 5,000-word vocabulary by a
seeded generator), embedded by vecstore's hashed-trigram embedder at dim 384 by default
(``--model all-MiniLM-L6-v2`` for the real one: the same pipeline, plus a constant ~500 MB of
torch and weights that only makes a relative growth look smaller, and 100,000 documents at
its ~50-300 texts/s on 2 cores), written by the `vecstore ingest` command (a child process,
no embedding cache) to:

* ``faiss``: a Faiss directory (``faiss:///dir``): the index lives in the ingesting process, so
  its memory holds every vector (1,536 bytes each at dim 384) by design;
* ``pgvector``: a PostgreSQL directory (``pgvector:///dir``): the records live in the server.

Measured: the peak resident set of the ingest process and, separately, of the server (both
sampled every 0.25 s), and the wall time.  The pipeline streams when the client's peak
stays flat with a server target and grows with a Faiss target only by the index it holds.
Writes ``benchmarks/results-ingest-rss.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

from _common import machine, run_measured

OUT = Path(__file__).resolve().parent / "results-ingest-rss.json"
TARGETS = {"faiss": "faiss://{dir}", "pgvector": "pgvector://{dir}"}


def corpus(path: Path, n: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    vocab = [f"{a}{b}" for a in ("ka", "lo", "mi", "nu", "re", "sa", "ti", "vo", "xe", "zu") for b in
             (f"{i:03d}" for i in range(500))]
    with path.open("w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"d{i}", "text": " ".join(rng.choices(vocab, k=12))}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--targets", default=",".join(TARGETS))
    parser.add_argument("--model", default="vecstore/hash-trigram-384")
    parser.add_argument("--work", default="/tmp/vecstore-ingest-rss")
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    cli = str(Path(sys.executable).with_name("vecstore"))
    runs = []
    for n in (int(s) for s in args.sizes.split(",")):
        source = work / f"docs-{n}.jsonl"
        corpus(source, n)
        for target in args.targets.split(","):
            store = work / f"{target}-{n}"
            shutil.rmtree(store, ignore_errors=True)
            store.mkdir()
            url = TARGETS[target].replace("{dir}", str(store))
            cmd = [cli, "ingest", str(source), "--to", url, "--collection", "docs", "--model", args.model,
                   "--no-cache", "--json"]
            print(f"[ingest-rss] {n:,} documents -> {url}", flush=True)
            m = run_measured(cmd, store, 3600, work / f"{target}-{n}.log")
            report = None
            text = (work / f"{target}-{n}.log").read_text(errors="replace")
            start = text.find("{")
            if m["exit_code"] == 0 and start >= 0:
                report = json.loads(text[start:])
            client = m["client_peak_rss_bytes"]
            row = {"documents": n, "target": target, "url": url, "wall_seconds": m["wall_seconds"],
                   "exit_code": m["exit_code"], "client_peak_rss_bytes": client,
                   "server_peak_rss_bytes": m["server_peak_rss_bytes"], "report": report}
            print(f"[ingest-rss]   {m['wall_seconds']:.0f} s, client peak {client / 1e6:,.0f} MB,"
                  f" server peak {m['server_peak_rss_bytes'] / 1e6:,.0f} MB, exit {m['exit_code']}", flush=True)
            runs.append(row)
            shutil.rmtree(store, ignore_errors=True)
    growth = {}
    for target in args.targets.split(","):
        rows = sorted((r for r in runs if r["target"] == target and r["exit_code"] == 0), key=lambda r: r["documents"])
        if len(rows) >= 2:
            growth[target] = rows[-1]["client_peak_rss_bytes"] / rows[0]["client_peak_rss_bytes"] - 1
    doc = {"machine": machine(), "model": args.model, "runs": runs, "client_peak_growth": growth}
    Path(args.out).write_text(json.dumps(doc, indent=1))
    print(json.dumps(growth))


if __name__ == "__main__":
    main()
