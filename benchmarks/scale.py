"""How each backend's cost grows from 10,000 to 1,000,000 vectors: `vecstore compare` on a
synthetic clustered workload, one backend per process.

    .venv/bin/python benchmarks/scale.py [--sizes 10000,100000,1000000] [--backends faiss-flat,...]
                                         [--budget-min 10] [--work /tmp/vecstore-scale]

Workload: ``synthetic:clustered?n=N&dim=384&queries=200`` (:mod:`vecstore.compare.synthetic`:
1,000 Gaussian clusters, unit vectors, generated from a seed, never downloaded), k = 10,
filters ``{"sel1": 0}`` (1 %) and ``{"sel50": 0}`` (50 %).  The exact ground truth is computed
here once per size and cached (``.npz``) before the backends run, so no run pays for it.

Each (size, backend) is one ``vecstore compare`` child process against a store in its own
directory (persisted, as a user at that size would run it).  Measured per run, by compare:
ingest (upsert, then ``optimize``: the index build where a backend defers it), recall@10 against
exact search, p50/p99 and QPS of 200 sequential queries, QPS on 4 threads, both filters;
and here: the peak resident memory of the child's process tree and, for PostgreSQL, of its
server (sampled every 0.25 s), and the store's size on disk.
HNSW indexes everywhere use m = 16, ef_construction = 100, ef_search = 100; Faiss IVF keeps
vecstore's defaults (nlist 4·sqrt(n), nprobe 8).

Where a backend stops: a run is stopped after ``--budget-min`` minutes; a larger size is not
started when the previous one, scaled linearly, would pass 1.5 × the time budget or 20 GiB of memory
(said in the report, with the projection).  Writes ``benchmarks/scale/scale.json``,
``scale.md`` and ``scale.png`` (log-log).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from _common import run_measured, stop_servers

HERE = Path(__file__).resolve().parent
OUT = HERE / "scale"
HNSW = "m=16&ef_construction=100&ef_search=100"
# label → URL, {dir} an absolute directory of its own
BACKENDS = {
    "faiss-flat": "faiss://{dir}",
    "faiss-hnsw": "faiss://{dir}?index=hnsw&" + HNSW,
    "faiss-ivf": "faiss://{dir}?index=ivf",
    "chroma": "chroma://{dir}?m=16&ef_construction=100",  # ef_search: Chroma's collection setting, default 100
    "qdrant-local": "qdrant://{dir}",
    "qdrant-edge": "qdrant-edge://{dir}?index=hnsw&" + HNSW
                   + '&payload_indexes={"sel1": "integer", "sel50": "integer"}',
    "milvus-lite": "milvus://{dir}/milvus.db?index=hnsw&" + HNSW,
    "pgvector-hnsw": "pgvector://{dir}?index=hnsw&" + HNSW,
}
MEMORY_LIMIT = 20 * 2**30
#: a linear projection overstates HNSW builds and graph searches (n log n, log n): try up to this × the budget
SLACK = 1.5


def dataset(n: int, queries: int) -> str:
    return f"synthetic:clustered?n={n}&dim=384&queries={queries}"


def precompute(ds: str, k: int) -> float:
    """Generate the workload and its exact ground truth once (cached for the children)."""
    from vecstore.compare import synthetic
    from vecstore.pipeline.cache import default_cache_dir

    spec = synthetic.parse(ds)
    assert spec is not None
    start = time.perf_counter()
    docs, queries = spec.vectors()
    synthetic.ground_truth(spec, docs, queries, k, default_cache_dir())
    return time.perf_counter() - start


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def run_one(n: int, label: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    store_dir = work / f"n{n}" / label / "store"
    out_dir = work / f"n{n}" / label / "compare"
    shutil.rmtree(store_dir.parent, ignore_errors=True)
    store_dir.mkdir(parents=True)
    url = BACKENDS[label].replace("{dir}", str(store_dir))
    cli = str(Path(sys.executable).with_name("vecstore"))
    cmd = [cli, "compare", dataset(n, args.queries), "--backend", f"{label}={url}", "--out", str(out_dir),
           "--repeat", "1", "--warmup", "20", "--concurrency", "4"]
    log_path = store_dir.parent / "compare.log"
    print(f"[scale] n={n:,} {label}: {url}", flush=True)
    measured = run_measured(cmd, store_dir, args.budget_min * 60, log_path)
    timed_out, wall = measured.pop("timed_out"), measured.pop("wall_seconds")
    row: dict[str, Any] = {"n": n, "backend": label, "url": url, "wall_seconds": wall, **measured}
    last = [line for line in log_path.read_text(errors="replace").splitlines() if line.startswith("[compare]")]
    if timed_out:
        row.update(status="stopped", reason=f"time: stopped after the budget of {args.budget_min} min, during"
                                            f" '{last[-1][10:] if last else 'start-up'}'")
        stop_servers(store_dir)
        return row
    results_path = out_dir / "results.json"
    if not results_path.exists():
        tail = log_path.read_text(errors="replace").splitlines()[-3:]
        row.update(status="failed", reason=f"exit status {measured['exit_code']}: {' / '.join(tail)}")
        return row
    b = json.loads(results_path.read_text())["backends"][0]
    if b["status"] != "ok":
        row.update(status="failed", reason=b["error"])
        return row
    disk = b.get("disk_bytes") or _size(store_dir)  # compare measures it before dropping the collection
    lat, conc, ing = b["latency"], b["concurrent"], b["ingest"]
    row.update(status="ok", disk_bytes=disk, disk_bytes_per_vector=disk / n,
               upsert_seconds=ing["upsert_seconds"], build_seconds=ing["optimize_seconds"],
               ingest_seconds=ing["seconds"], ingest_vectors_per_s=ing["vectors_per_s"],
               recall_at_10=b["recall@10"], p50_ms=lat["p50_ms"], p99_ms=lat["p99_ms"], qps=lat["qps"],
               qps_4_threads=conc["qps"], rss_before_backend_bytes=b["rss"]["peak_before_bytes"],
               filters={lab: {"p50_ms": f["p50_ms"], "p99_ms": f["p99_ms"], "qps": f["qps"],
                              "recall_at_10": f["recall@10"], "short_results": f["short_results"]}
                        for lab, f in b["filters"].items()})
    shutil.rmtree(store_dir, ignore_errors=True)
    return row


def projection(prev: dict[str, Any], n: int, args: argparse.Namespace) -> str | None:
    """Why the next size is not started, from the previous one scaled linearly (or None)."""
    factor = n / prev["n"]
    if prev["status"] != "ok":
        return f"not started: the {prev['n']:,} run {prev['status']} ({prev.get('reason', '')[:120]})"
    minutes = prev["wall_seconds"] * factor / 60
    if minutes > args.budget_min * SLACK:
        return (f"time: not started; {prev['wall_seconds'] / 60:.1f} min at {prev['n']:,} scales to about"
                f" {minutes:.0f} min at {n:,}, over {SLACK} × the {args.budget_min:g} min budget")
    memory = prev["peak_rss_bytes"] * factor
    if memory > MEMORY_LIMIT:
        return (f"memory: not started; {prev['peak_rss_bytes'] / 2**30:.1f} GiB at {prev['n']:,} scales to about"
                f" {memory / 2**30:.0f} GiB at {n:,}, over {MEMORY_LIMIT / 2**30:.0f} GiB of this machine's 24")
    return None


def markdown(doc: dict[str, Any]) -> str:
    env = doc["environment"]
    out = ["# How each backend's cost grows: 10k → 1M vectors (`benchmarks/scale.py`)", "",
           f"Synthetic clustered unit vectors, dim 384, {doc['queries']} queries, k = 10; one `vecstore compare`"
           f" process per backend and size; {env['cpu_count']} CPUs ({env['machine']}), {env['memory_gib']:.0f} GiB,"
           f" Python {env['python']}, {env['date']}. HNSW: m 16, ef_construction 100, ef_search 100.", "",
           "| backend | n | ingest s (upsert + build) | vectors/s | recall@10 | p50 ms | p99 ms | QPS | QPS 4 thr |"
           " 1 % p50 ms | 1 % recall | 50 % p50 ms | 50 % recall | peak RSS MB | disk B/vector |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in doc["runs"]:
        if r["status"] != "ok":
            out.append(f"| {r['backend']} | {r['n']:,} | **{r['status']}**: {r['reason']} |" + " |" * 12)
            continue
        f1, f50 = r["filters"]["1%"], r["filters"]["50%"]
        out.append(
            f"| {r['backend']} | {r['n']:,} | {r['ingest_seconds']:.1f} ({r['upsert_seconds']:.1f} +"
            f" {r['build_seconds']:.1f}) | {r['ingest_vectors_per_s']:,.0f} | {r['recall_at_10']:.3f} |"
            f" {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['qps']:,.0f} | {r['qps_4_threads']:,.0f} |"
            f" {f1['p50_ms']:.2f} | {f1['recall_at_10']:.3f} | {f50['p50_ms']:.2f} | {f50['recall_at_10']:.3f} |"
            f" {r['peak_rss_bytes'] / 1e6:,.0f} | {r['disk_bytes_per_vector']:,.0f} |")
    out += ["", "Peak RSS: the compare process (which also holds the generated vectors, 1,536 bytes each, and"
            " the metadata) plus the PostgreSQL server for pgvector. Disk: the store's directory after"
            " `optimize` (for pgvector the whole private cluster, about 40 MB of it fixed).", "",
            "![scale](scale.png)", ""]
    return "\n".join(out)


def plot(doc: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("ingest_seconds", "ingest + build, s"), ("p50_ms", "query p50, ms"),
              ("qps", "queries/s (1 client)"), ("f1", "filtered 1 % p50, ms"),
              ("peak_rss_bytes", "peak RSS, MB"), ("disk_bytes_per_vector", "disk, bytes/vector")]
    fig, axes = plt.subplots(2, 3, figsize=(15, 8.5))
    labels = list(dict.fromkeys(r["backend"] for r in doc["runs"]))
    for ax, (key, title) in zip(axes.flat, panels):
        for i, label in enumerate(labels):
            runs = [r for r in doc["runs"] if r["backend"] == label and r["status"] == "ok"]
            if not runs:
                continue
            xs = [r["n"] for r in runs]
            ys = [r["filters"]["1%"]["p50_ms"] if key == "f1" else r[key] / (1e6 if key == "peak_rss_bytes" else 1)
                  for r in runs]
            ax.plot(xs, ys, marker="os^vDP*X"[i % 8], label=label)
            stopped = [r for r in doc["runs"] if r["backend"] == label and r["status"] != "ok"]
            if stopped:  # where it stops: an x at the last size it reached
                ax.plot(xs[-1], ys[-1], "x", color="black", markersize=10)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(title)
        ax.set_xlabel("vectors")
        ax.grid(True, which="both", alpha=0.3)
    axes.flat[0].legend(fontsize=8)
    fig.suptitle("vecstore: cost vs. collection size, synthetic clustered dim 384 (x: the backend stops after this size)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _order(runs: list[dict[str, Any]], labels: list[str]) -> list[dict[str, Any]]:
    rank = {label: i for i, label in enumerate([*BACKENDS, *labels])}
    return sorted(runs, key=lambda r: (r["n"], rank.get(r["backend"], len(rank))))


def _write(doc: dict[str, Any], kept: list[dict[str, Any]], out: Path) -> None:
    full = {**doc, "runs": _order(kept + doc["runs"], list(BACKENDS))}
    (out / "scale.json").write_text(json.dumps(full, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--budget-min", type=float, default=10.0)
    parser.add_argument("--work", default="/tmp/vecstore-scale")
    parser.add_argument("--out", default=str(OUT))
    parser.add_argument("--merge", action="store_true",
                        help="keep the other runs of the existing scale.json, replacing only those run now")
    parser.add_argument("--report-only", action="store_true", help="only rewrite scale.md and scale.png from scale.json")
    args = parser.parse_args()
    work = Path(args.work)
    os.environ.setdefault("VECSTORE_CACHE_DIR", str(work / "cache"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import psutil

    from vecstore.compare.run import environment

    doc: dict[str, Any] = {"environment": {**environment(), "memory_gib": psutil.virtual_memory().total / 2**30,
                                           "platform_detail": platform.platform()},
                           "queries": args.queries, "budget_min": args.budget_min, "runs": [], "ground_truth": {}}
    sizes = [int(s) for s in args.sizes.split(",")]
    labels = args.backends.split(",")
    last: dict[str, dict[str, Any]] = {}
    kept: list[dict[str, Any]] = []
    if args.report_only:
        doc = json.loads((out / "scale.json").read_text())
        sizes, labels = [], []
    elif args.merge and (out / "scale.json").exists():
        old = json.loads((out / "scale.json").read_text())
        kept = [r for r in old["runs"] if not (r["n"] in sizes and r["backend"] in labels)]
        doc["ground_truth"] = old.get("ground_truth", {})
        doc["merged"] = True
    for n in sizes:
        print(f"[scale] n={n:,}: generating and exact ground truth", flush=True)
        doc["ground_truth"][str(n)] = {"seconds": precompute(dataset(n, args.queries), 10)}
        for label in labels:
            reason = projection(last[label], n, args) if label in last else None
            if reason:
                row = {"n": n, "backend": label, "status": "not run", "reason": reason}
            else:
                row = run_one(n, label, args, work)
            print(f"[scale]   -> {row['status']}" + (f" {row.get('reason', '')}" if row["status"] != "ok" else
                  f" ingest {row['ingest_seconds']:.1f} s, p50 {row['p50_ms']:.2f} ms, recall {row['recall_at_10']:.3f},"
                  f" peak {row['peak_rss_bytes'] / 1e6:,.0f} MB"), flush=True)
            doc["runs"].append(row)
            if row["status"] != "not run":
                last[label] = row
            _write(doc, kept, out)
    doc["runs"] = _order(kept + doc["runs"], list(BACKENDS))
    (out / "scale.md").write_text(markdown(doc))
    plot(doc, out / "scale.png")
    print(f"[scale] wrote {out / 'scale.json'}, scale.md, scale.png")


if __name__ == "__main__":
    main()
