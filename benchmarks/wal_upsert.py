"""Upsert throughput of a Faiss directory store with the write-ahead log vs. before it.

Before the log, ``faiss:///dir`` wrote nothing on ``upsert`` (only on close);
now every call appends a frame and fsyncs it.  This runs the same workload —
20,000 random 384-d vectors with metadata ``{cat, year}``, ``upsert`` in batches
of 1,000 into a fresh directory — through the code of a baseline commit
(default: the last commit without the log, extracted with ``git archive``)
and through this checkout, alternating, each round in a fresh subprocess, and
reports medians.  Two times per round: the upserts alone, and upserts plus
``close()`` (which, before and after, writes the snapshot).

    .venv/bin/python benchmarks/wal_upsert.py [--baseline 360ddf4] [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WORKER = r"""
import json, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
import numpy as np, vecstore
assert vecstore.__file__.startswith(sys.argv[1]), vecstore.__file__
n, dim, batch = 20_000, 384, 1_000
rng = np.random.default_rng(0)
vectors = rng.normal(size=(n, dim)).astype(np.float32)
ids = [f"d{i}" for i in range(n)]
meta = [{"cat": i % 10, "year": 2000 + i % 25} for i in range(n)]
with tempfile.TemporaryDirectory() as tmp:
    store = vecstore.connect(f"faiss://{tmp}/s")
    col = store.collection("c", dim=dim)
    start = time.perf_counter()
    col.upsert(ids=ids, vectors=vectors, metadata=meta, batch_size=batch)
    upsert_s = time.perf_counter() - start
    store.close()
    total_s = time.perf_counter() - start
print(json.dumps({"upsert_s": upsert_s, "with_close_s": total_s}))
"""


def extract(ref: str, dest: Path) -> Path:
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref, "vecstore"], check=True,
                             capture_output=True).stdout
    with tempfile.TemporaryFile() as fh:
        fh.write(archive)
        fh.seek(0)
        with tarfile.open(fileobj=fh) as tar:
            tar.extractall(dest, filter="data")
    return dest


def run(tree: Path) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", WORKER, str(tree)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", default="360ddf4", help="commit without the write-ahead log")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results-wal-upsert.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        trees = {"before (no log)": extract(args.baseline, Path(tmp)), "with log": ROOT}
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        for r in range(args.rounds):
            for name, tree in (trees.items() if r % 2 == 0 else reversed(trees.items())):
                rounds[name].append(run(tree))
                print(f"round {r + 1} {name}: {rounds[name][-1]}", flush=True)
    med = {name: {key: statistics.median(x[key] for x in rs) for key in rs[0]} for name, rs in rounds.items()}
    before, after = med["before (no log)"], med["with log"]
    result = {
        "workload": "20,000 x 384 float32, metadata {cat, year}, upsert in batches of 1,000, faiss flat on disk",
        "baseline": args.baseline,
        "rounds": args.rounds,
        "medians_s": med,
        "throughput_ratio_upsert": before["upsert_s"] / after["upsert_s"],
        "throughput_ratio_with_close": before["with_close_s"] / after["with_close_s"],
        "raw": rounds,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "raw"}, indent=2))


if __name__ == "__main__":
    main()
