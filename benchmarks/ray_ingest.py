"""All of SciFact through ``ingest(engine="ray")`` against the single-process pipeline, interleaved.

Each run is a fresh Python process (so its peak RSS is its own) that ingests the whole SciFact
corpus with all-MiniLM-L6-v2 into a new Faiss directory, with no embedding cache (everything is
embedded every time). The Ray run starts ``ray.init(num_cpus=CPUS)`` itself; that start is timed
apart from the ingest. While a run goes, a sampler reads every 0.25 s the resident set of the
driver and of each Ray worker process (``ray::`` in its command line) and keeps the peaks.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/ray_ingest.py --rounds 2 [--max-docs N]

Writes ``benchmarks/results-ray-ingest.json``; the figures are in ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import SCIFACT, machine

HERE = Path(__file__).resolve().parent


def _sampler(peaks: dict[str, float], names: dict[str, str], stop: threading.Event) -> None:
    """Peak RSS (MiB) of this process, of each ray:: worker, and of all of them at once."""
    import psutil

    me = psutil.Process()
    while not stop.is_set():
        total = me.memory_info().rss
        peaks["driver"] = max(peaks.get("driver", 0), total / 2**20)
        workers = 0
        for p in psutil.process_iter(["pid", "cmdline", "memory_info"]):
            cmd = " ".join(p.info["cmdline"] or [])
            if cmd.startswith("ray::") and p.info["memory_info"] is not None:
                rss = p.info["memory_info"].rss
                workers += rss
                # one entry per worker process, named by what it ran (the embedding actor, a task, ...)
                name = cmd.split()[0].split(").")[0].removeprefix("ray::") + (")" if ")." in cmd else "")
                key = f"worker {p.info['pid']}"
                if name != "IDLE" or key not in peaks:
                    names[key] = name
                peaks[key] = max(peaks.get(key, 0), rss / 2**20)
        peaks["workers_total"] = max(peaks.get("workers_total", 0), workers / 2**20)
        peaks["all_total"] = max(peaks.get("all_total", 0), (total + workers) / 2**20)
        stop.wait(0.25)


def child(engine: str, source: str, cpus: int) -> None:
    """One run, in this (fresh) process; prints its result as JSON."""
    import vecstore

    peaks: dict[str, float] = {}
    names: dict[str, str] = {}
    stop = threading.Event()
    sampler = threading.Thread(target=_sampler, args=(peaks, names, stop), daemon=True)
    sampler.start()
    out: dict[str, object] = {"engine": engine}
    if engine == "ray":
        import ray

        started = time.perf_counter()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        out["ray_init_s"] = time.perf_counter() - started
    with tempfile.TemporaryDirectory(prefix="vecstore-ray-bench-") as tmp:
        started = time.perf_counter()
        report = vecstore.ingest(source, [f"faiss://{tmp}/f"], "scifact", cache=False, engine=engine)
        out["seconds"] = time.perf_counter() - started
    stop.set()
    sampler.join()
    out["report"] = report.to_dict()
    out["rss_mib"] = {f"{k} ({names[k]})" if k in names else k: round(v, 1) for k, v in sorted(peaks.items())}
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--max-docs", type=int, help="only the first N documents (a quick check)")
    ap.add_argument("--cpus", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default=str(HERE / "results-ray-ingest.json"))
    ap.add_argument("--child", choices=["local", "ray"], help=argparse.SUPPRESS)
    ap.add_argument("--source", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.source, args.cpus)
        return
    with tempfile.TemporaryDirectory(prefix="vecstore-scifact-") as tmp:
        source = str(SCIFACT)
        if args.max_docs:
            import gzip
            from itertools import islice

            Path(tmp, "corpus.jsonl").write_text("".join(islice(gzip.open(SCIFACT / "corpus.jsonl.gz", "rt"),
                                                                args.max_docs)))
            source = tmp
        runs = []
        for r in range(args.rounds):  # A B, then B A: neither engine always goes first
            for engine in (["local", "ray"] if r % 2 == 0 else ["ray", "local"]):
                proc = subprocess.run([sys.executable, __file__, "--child", engine, "--source", source,
                                       "--cpus", str(args.cpus)], capture_output=True, text=True, check=False)
                line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
                if line is None:
                    raise SystemExit(f"{engine} run failed:\n{proc.stderr[-3000:]}")
                run = json.loads(line[len("RESULT "):])
                run["round"] = r + 1
                runs.append(run)
                rep = run["report"]
                print(f"round {r + 1} {engine:5s}: {rep['documents']} docs, {rep['chunks']} chunks in "
                      f"{run['seconds']:.1f} s ({rep['chunks'] / run['seconds']:.1f} chunks/s; embedding "
                      f"{rep['embed_seconds']:.1f} s); peak RSS {run['rss_mib']}", flush=True)
    summary = {}
    for engine in ("local", "ray"):
        mine = [r for r in runs if r["engine"] == engine]
        summary[engine] = {"seconds_median": statistics.median(r["seconds"] for r in mine),
                           "chunks_per_s_median": statistics.median(r["report"]["chunks"] / r["seconds"] for r in mine)}
    summary["throughput_ratio_ray_over_local"] = (summary["ray"]["chunks_per_s_median"]
                                                  / summary["local"]["chunks_per_s_median"])
    result = {"machine": machine(), "date": time.strftime("%Y-%m-%d %H:%M"), "runs": runs, "summary": summary}
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
