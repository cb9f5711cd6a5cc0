"""The ingest acceptance run on all of SciFact, through the CLI as a user runs it.

1. ``vecstore ingest SCIFACT --to faiss:///T/a --to chroma:///T/b --to qdrant:///T/c``
   with an empty embedding cache: every chunk embedded once, equal counts.
2. The same command again: 0 texts embedded, counts unchanged, wall time ratio.
3. One abstract edited in a copy of the corpus, ingested again: only that
   document's chunks change.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ingest_scifact.py
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import SCIFACT, machine

import vecstore

ROOT = Path(__file__).resolve().parent.parent
VECSTORE = str(Path(sys.executable).with_name("vecstore"))


def run_ingest(source: Path, targets: list[str], env: dict[str, str]) -> tuple[dict, float]:
    cmd = [VECSTORE, "ingest", str(source), *sum((["--to", t] for t in targets), []), "--collection", "scifact", "--json", "-q"]
    start = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout), time.perf_counter() - start


def snapshot(url: str) -> dict[str, str]:
    with vecstore.connect(url) as store:
        return {r.id: r.metadata["doc_hash"] for b in store.collection("scifact").iterate(include_vectors=False) for r in b}


def main() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="vecstore-ingest-"))
    env = {**os.environ, "VECSTORE_CACHE_DIR": str(tmp / "cache"), "HF_HUB_OFFLINE": "1"}
    targets = [f"faiss://{tmp}/a", f"chroma://{tmp}/b", f"qdrant://{tmp}/c"]
    first, t1 = run_ingest(SCIFACT, targets, env)
    counts1 = [len(snapshot(u)) for u in targets]
    second, t2 = run_ingest(SCIFACT, targets, env)
    counts2 = [len(snapshot(u)) for u in targets]

    corpus = tmp / "scifact-edited"
    corpus.mkdir()
    with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt") as src, gzip.open(corpus / "corpus.jsonl.gz", "wt") as dst:
        for n, line in enumerate(src):
            if n == 100:
                row = json.loads(line)
                edited_id = row["_id"]
                row["text"] += " This sentence was added to test re-ingestion."
                line = json.dumps(row) + "\n"
            dst.write(line)
    before = [snapshot(u) for u in targets]
    third, t3 = run_ingest(corpus, targets, env)
    changed = []
    for url, was in zip(targets, before):
        now = snapshot(url)
        diff = {i for i in set(was) | set(now) if was.get(i) != now.get(i)}
        changed.append({"chunks_changed": len(diff), "all_of_edited_doc": all(i.startswith(f"{edited_id}#") for i in diff)})
    result = {
        "first": {"seconds": round(t1, 1), "documents": first["documents"], "chunks": first["chunks"],
                  "embedded": first["embedded"], "embed_seconds": round(first["embed_seconds"], 1), "counts": counts1},
        "second": {"seconds": round(t2, 1), "embedded": second["embedded"],
                   "written": [t["written"] for t in second["targets"]], "counts": counts2},
        "speedup": round(t1 / t2, 1),
        "edit": {"seconds": round(t3, 1), "embedded": third["embedded"], "doc": edited_id,
                 "written": [t["written"] for t in third["targets"]], "deleted": [t["deleted"] for t in third["targets"]],
                 "per_target": changed},
        "machine": machine(),
    }
    print(json.dumps(result, indent=2))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
