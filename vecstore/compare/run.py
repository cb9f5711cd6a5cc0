"""Run one comparison: embed once, ingest into every backend, run the identical
queries on each, and measure quality, speed and agreement.

Protocol (BEIR's): one record per document, its text ``title + " " + text``
embedded by the model (which truncates at its maximum length), cosine metric.
Ground truth for recall is exact search in numpy over the same vectors.
Warm-up queries are excluded from timings.  A backend that fails is reported
as failed with its error; the others still run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import importlib.metadata
import json
import os
import platform
import statistics
import time
import traceback
from collections.abc import Callable, Iterator
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from .. import _numeric
from ..embed import Embedder, load_embedder
from ..pipeline.cache import EmbeddingCache
from ..pipeline.ingest import Ingestor, IngestReport
from ..pipeline.loaders import BeirDataset, Document, is_beir, load, load_jsonl, load_qrels
from ..registry import connect
from ..store import Collection
from . import clients, metrics, synthetic
from .config import BackendSpec, CompareConfig

SCHEMA_VERSION = 1
_PACKAGES = ("vecstore", "numpy", "faiss-cpu", "chromadb", "qdrant-client", "qdrant-edge-py", "elasticsearch",
             "sentence-transformers", "torch", "transformers")


def environment() -> dict[str, Any]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "packages": versions,
    }


class Dataset:
    def __init__(self, docs: list[Document], queries: dict[str, str], qrels: dict[str, dict[str, int]]) -> None:
        self.docs = docs
        self.queries = queries
        self.qrels = qrels
        self.ids = [d.id for d in docs]
        self.texts: list[str] | None = [d.text for d in docs]


def load_dataset(config: CompareConfig) -> Dataset:
    path = Path(config.dataset)
    if is_beir(path):
        beir = BeirDataset(path)
        docs = list(islice(beir.corpus(), config.max_docs))
        queries = beir.queries(config.split)
        qrels = beir.qrels(config.split)
    else:
        docs = list(islice(load(str(path)), config.max_docs))
        if not config.queries:
            from ..errors import ConfigError

            raise ConfigError(f"{path} is not a BEIR directory: give a queries file (jsonl with id and text)")
        queries = {d.id: d.text for d in load_jsonl(config.queries, metadata_fields=())}
        qrels = load_qrels(config.qrels) if config.qrels else {}
    if config.max_docs:  # judgments only for documents that are there
        kept = {d.id for d in docs}
        qrels = {q: {d: r for d, r in rels.items() if d in kept} for q, rels in qrels.items()}
        qrels = {q: rels for q, rels in qrels.items() if rels}
        queries = {q: t for q, t in queries.items() if q in qrels} if qrels else queries
    if config.max_queries:
        queries = dict(islice(queries.items(), config.max_queries))
    return Dataset(docs, queries, {q: qrels[q] for q in queries if q in qrels})


def bucket(doc_id: str) -> int:
    return int(hashlib.sha256(doc_id.encode()).hexdigest(), 16) % 10


def _filter_of(config: CompareConfig, docs: list[Document]) -> tuple[str | None, Any]:
    """(field, value) to filter on: the configured field's most common value, or the synthetic bucket 0."""
    if config.filter_field:
        values = [d.metadata.get(config.filter_field) for d in docs if config.filter_field in d.metadata]
        if values:
            common = max(set(values), key=values.count)
            return config.filter_field, common
    if config.filter_field is None and config.synthetic_filter:
        return "bucket", 0
    return None, None


def _searcher(col: Collection, k: int, params: dict[str, Any], flt: dict[str, Any] | None) -> Callable[[np.ndarray], list[str]]:
    def search(q: np.ndarray) -> list[str]:
        return [h.id for h in col.search(q, k=k, filter=flt, **params)]

    return search


def _timed(search: Callable[[np.ndarray], list[str]], queries: np.ndarray) -> tuple[list[list[str]], list[float], float]:
    results, latencies = [], []
    wall = time.perf_counter()
    for q in queries:
        start = time.perf_counter()
        results.append(search(q))
        latencies.append(time.perf_counter() - start)
    return results, latencies, time.perf_counter() - wall


def _disk_size(url: str) -> int | None:
    from ..url import parse_url

    spec = parse_url(url)
    if spec.mode != "path" or not spec.path or not os.path.exists(spec.path):
        return None
    return sum(f.stat().st_size for f in Path(spec.path).rglob("*") if f.is_file())


def measure_backend(
    spec: BackendSpec,
    config: CompareConfig,
    data: Dataset,
    doc_vectors: np.ndarray,
    metadata: list[dict[str, Any]],
    query_vectors: np.ndarray,
    exact: list[list[str]],
    filters: dict[str, dict[str, Any]],
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Ingest, optimize and query one backend.  ``filters``: label → ``{"filter", "ids"
    (exact filtered top-k), "count"}``; the first is also reported as ``"filtered"``.
    ``rss`` holds this process's peak resident set before and after: the backend's own
    peak where it is the only one measured in the process (``ru_maxrss`` never falls)."""
    out: dict[str, Any] = {"label": spec.label, "url": spec.url, "index": spec.index, "options": spec.options,
                           "search_params": spec.search_params, "status": "ok"}
    k, n = config.k, len(data.ids)
    rss_before = _peak_rss()
    with connect(spec.url, **spec.connect_options) as store:
        if store.has_collection(config.collection):
            store.drop_collection(config.collection)
        start = time.perf_counter()
        # a keyword index only when a lexical mode is measured: dense-only ingest times stay comparable
        lexical = None if any(m != "dense" for m in config.modes) and store.lexical_analyzers else False
        col = store.collection(config.collection, dim=doc_vectors.shape[1], metric="cosine", index=spec.index,
                               lexical=lexical, **spec.options)
        log(f"{spec.label}: ingesting {n} vectors")
        col.upsert(ids=data.ids, vectors=doc_vectors, texts=data.texts, metadata=metadata)
        upserted = time.perf_counter()
        col.optimize()
        done = time.perf_counter()
        out["ingest"] = {"seconds": done - start, "upsert_seconds": upserted - start, "optimize_seconds": done - upserted,
                         "vectors_per_s": n / (done - start)}
        qids = list(data.queries)
        params = dict(spec.search_params)

        deep_k = config.quality_k if data.qrels else max(k, 10)
        log(f"{spec.label}: quality pass (k={deep_k})")
        deep = col.search_batch(query_vectors, k=deep_k, **params)
        run = {qid: {h.id: h.score for h in hits} for qid, hits in zip(qids, deep)}
        if data.qrels:
            out["quality"] = {
                "ndcg@10": metrics.ndcg_at_k(run, data.qrels, 10),
                "mrr@10": metrics.mrr_at_k(run, data.qrels, 10),
                "recall@100": metrics.recall_at_k(run, data.qrels, 100),
            }
        out["run"] = {qid: [h.id for h in hits[: max(k, 10)]] for qid, hits in zip(qids, deep)}

        search = _searcher(col, k, params, None)
        for q in query_vectors[: config.warmup]:
            search(q)
        log(f"{spec.label}: {config.repeat} x {len(qids)} sequential queries")
        latencies: list[float] = []
        wall = 0.0
        first: list[list[str]] = []
        for _ in range(config.repeat):
            results, lat, seconds = _timed(search, query_vectors)
            first = first or results
            latencies += lat
            wall += seconds
        out["latency"] = {**metrics.latency_summary(latencies), "qps": len(latencies) / wall}
        out["latencies_ms"] = [round(x * 1000, 4) for x in latencies]
        out["topk"] = first
        out[f"recall@{k}"] = metrics.recall_vs_exact(first, exact, k)

        repeated = np.concatenate([query_vectors] * config.repeat)

        def level(n: int) -> dict[str, Any]:
            return clients.measure_level(col, spec.url, spec.connect_options, repeated, n, k, params, config.warmup,
                                         config.engine, first * config.repeat, exact * config.repeat)

        out["levels"] = []
        for n in config.concurrency:
            log(f"{spec.label}: {len(repeated)} queries from {n} clients")
            out["levels"].append(level(n))
        top = out["levels"][-1]
        out["concurrent"] = {**top, **({"threads": top["clients"]} if top["kind"] == "threads" else {})}
        if config.while_ingesting:
            log(f"{spec.label}: {len(repeated)} queries from {top['clients']} clients while the corpus is upserted again")

            def rewrite(a: int, b: int) -> None:
                texts = None if data.texts is None else data.texts[a:b]
                col.upsert(ids=data.ids[a:b], vectors=doc_vectors[a:b], texts=texts, metadata=metadata[a:b])

            out["while_ingesting"] = clients.while_writing(rewrite, len(data.ids), lambda: level(top["clients"]))

        out["filters"] = {}
        for label, f in filters.items():
            fsearch = _searcher(col, k, params, f["filter"])
            for q in query_vectors[: config.warmup]:
                fsearch(q)
            log(f"{spec.label}: {len(qids)} queries filtered {json.dumps(f['filter'])} ({label})")
            fresults, flat, fwall = _timed(fsearch, query_vectors)
            out["filters"][label] = {"filter": f["filter"], "matches": f["count"], **metrics.latency_summary(flat),
                                     "qps": len(flat) / fwall, f"recall@{k}": metrics.recall_vs_exact(fresults, f["ids"], k),
                                     "short_results": sum(1 for r in fresults if len(r) < min(k, f["count"]))}
        if out["filters"]:
            out["filtered"] = next(iter(out["filters"].values()))

        out["modes"] = {mode: measure_mode(col, mode, config, data, query_vectors, params, log)
                        for mode in config.modes if mode != "dense"}
        out["lexical_engine"] = store.lexical_engine or None
        out["analyzer"] = col.settings.lexical

        sweeps = []
        for param, values in config.sweep.items():
            if param not in col.tunable_params:
                continue
            for value in values:
                s = _searcher(col, k, {**params, param: value}, None)
                for q in query_vectors[: config.warmup]:
                    s(q)
                res, lat, w = _timed(s, query_vectors)
                sweeps.append({"param": param, "value": value, f"recall@{k}": metrics.recall_vs_exact(res, exact, k),
                               "qps": len(lat) / w, **metrics.latency_summary(lat)})
        out["sweep"] = sweeps
        store_size = _disk_size(spec.url)
        out["rss"] = {"peak_before_bytes": rss_before, "peak_after_bytes": _peak_rss()}
        store.drop_collection(config.collection)
    out["disk_bytes"] = store_size
    return out


def _peak_rss() -> int | None:
    """This process's peak resident set in bytes (None where the OS does not say): Linux's
    ``VmHWM``, which starts afresh at exec (``ru_maxrss`` keeps the parent's high-water mark)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if platform.system() == "Darwin" else peak * 1024)


def measure_mode(col: Collection, mode: str, config: CompareConfig, data: Dataset, query_vectors: np.ndarray,
                 params: dict[str, Any], log: Callable[[str], None]) -> dict[str, Any]:
    """Quality, latency and the top-k of one lexical or hybrid mode (``status: unsupported``
    with the backend's own error where it has no lexical side)."""
    from ..errors import UnsupportedOperationError

    texts = list(data.queries.values())
    qids = list(data.queries)
    extra = {} if mode == "lexical" else params

    def one(i: int, k: int) -> list[Any]:
        vector = None if mode == "lexical" else query_vectors[i]
        return col.search(vector, k=k, text=texts[i], mode=mode, **extra)

    try:
        one(0, 1)
    except UnsupportedOperationError as exc:
        log(f"{col.store.backend}: no {mode} search ({exc})")
        return {"status": "unsupported", "error": str(exc)}
    log(f"{col.store.backend}: {mode} search, {len(qids)} queries")
    out: dict[str, Any] = {"status": "ok"}
    deep = [one(i, config.quality_k) for i in range(len(qids))]
    if data.qrels:
        run_ = {qid: {h.id: h.score for h in hits} for qid, hits in zip(qids, deep)}
        out["quality"] = {"ndcg@10": metrics.ndcg_at_k(run_, data.qrels, 10),
                          "mrr@10": metrics.mrr_at_k(run_, data.qrels, 10),
                          "recall@100": metrics.recall_at_k(run_, data.qrels, 100)}
    for i in range(min(config.warmup, len(qids))):
        one(i, config.k)
    latencies: list[float] = []
    wall = time.perf_counter()
    for i in range(len(qids)):  # one timed pass: lexical scoring is slow on some engines (Qdrant local mode)
        start = time.perf_counter()
        one(i, config.k)
        latencies.append(time.perf_counter() - start)
    out["latency"] = {**metrics.latency_summary(latencies), "qps": len(latencies) / (time.perf_counter() - wall)}
    out["topk"] = [[h.id for h in hits[: config.k]] for hits in deep]
    return out


def mode_overlap(backends: list[dict[str, Any]], mode: str, k: int) -> dict[str, dict[str, float]]:
    """Top-k agreement between the backends that ran ``mode``."""
    ran = [b for b in backends if b["status"] == "ok" and
           (mode == "dense" or b.get("modes", {}).get(mode, {}).get("status") == "ok")]
    tops = {b["label"]: b["topk"] if mode == "dense" else b["modes"][mode]["topk"] for b in ran}
    return {a: {b: metrics.overlap(tops[a], tops[b], k) for b in tops} for a in tops}


def run(config: CompareConfig, *, embedder: Embedder | None = None, cache: EmbeddingCache | None | bool = True,
        log: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the comparison and return the results document (see :data:`SCHEMA_VERSION`)."""
    if synthetic.parse(config.dataset) is not None:
        prepared = _prepare_synthetic(config, log)
        embedder = None
    else:
        prepared = _prepare_embedded(config, embedder, cache, log)
        embedder = prepared.pop("embedder")
    data, doc_vectors, query_vectors = prepared["data"], prepared["docs"], prepared["queries"]
    metadata, exact, filters = prepared["metadata"], prepared["exact"], prepared["filters"]
    first = next(iter(filters.values()), None)
    results: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "environment": environment(),
        "config": {**{k: v for k, v in config.__dict__.items() if k != "backends"},
                   "backends": [b.__dict__ for b in config.backends]},
        "dataset": {"path": str(config.dataset), "documents": len(data.ids), "queries": len(data.queries),
                    "judged_queries": len(data.qrels), "filter": first and first["filter"],
                    "filter_matches": first["count"] if first else 0, "synthetic_filter": prepared["synthetic_filter"],
                    "filters": {label: {"filter": f["filter"], "matches": f["count"]} for label, f in filters.items()},
                    **prepared.get("dataset", {})},
        "embedding": prepared["embedding"],
        "reference": {"name": "exact (numpy)"},
        "backends": [],
    }
    if data.qrels:
        exact_run = {qid: {data.ids[j]: float(s) for j, s in zip(idx, sc)}
                     for qid, (idx, sc) in zip(data.queries, prepared["deep"])}
        results["reference"]["quality"] = {
            "ndcg@10": metrics.ndcg_at_k(exact_run, data.qrels, 10),
            "mrr@10": metrics.mrr_at_k(exact_run, data.qrels, 10),
            "recall@100": metrics.recall_at_k(exact_run, data.qrels, 100),
        }
    with _ray_for(config):
        for spec in config.backends:
            try:
                results["backends"].append(
                    measure_backend(spec, config, data, doc_vectors, metadata, query_vectors, exact, filters, log))
            except Exception as exc:  # one backend failing must not stop the others
                log(f"{spec.label}: FAILED: {type(exc).__name__}: {exc}")
                results["backends"].append({"label": spec.label, "url": spec.url, "status": "failed",
                                            "error": f"{type(exc).__name__}: {exc}",
                                            "traceback": traceback.format_exc(limit=5)})
    if config.embedders and embedder is not None:
        results["embedders"], results["embedder_overlap"] = compare_embedders(
            config, data, embedder, doc_vectors, query_vectors, log)
    ok = [b for b in results["backends"] if b["status"] == "ok"]
    results["overlap"] = {a["label"]: {b["label"]: metrics.overlap(a["topk"], b["topk"], config.k) for b in ok} for a in ok}
    results["mode_overlap"] = {mode: mode_overlap(results["backends"], mode, config.k)
                               for mode in config.modes if mode != "dense"}
    return results


@contextlib.contextmanager
def _ray_for(config: CompareConfig) -> Iterator[None]:
    """With ``engine="ray"``: the cluster at ``ray_address`` joined (or a local Ray started and,
    after the run, stopped) for the client actors."""
    if config.engine != "ray":
        yield
        return
    from ..pipeline.raydata import cluster

    with cluster(config.ray_address):
        yield


def _prepare_embedded(config: CompareConfig, embedder: Embedder | None, cache: EmbeddingCache | None | bool,
                      log: Callable[[str], None]) -> dict[str, Any]:
    """A BEIR or documents-and-queries dataset, embedded once (through the cache)."""
    data = load_dataset(config)
    if not data.queries:
        from ..errors import ConfigError

        raise ConfigError(f"{config.dataset}: no queries to run")
    embedder = embedder or load_embedder(config.model, **config.embedding)
    own_cache = cache is True
    cache_obj = EmbeddingCache() if cache is True else (cache or None)
    try:
        ingestor = Ingestor(embedder, None, cache_obj)
        report = IngestReport(config.collection, embedder.name)
        log(f"embedding {len(data.docs)} documents and {len(data.queries)} queries with {embedder.name}")
        start = time.perf_counter()
        doc_vectors = _embed_in_batches(ingestor, [d.text for d in data.docs], report)
        embed_docs_s = time.perf_counter() - start
        qstart = time.perf_counter()
        query_vectors = embedder.embed_queries(list(data.queries.values()))
        embed_queries_s = time.perf_counter() - qstart
    finally:
        if own_cache and cache_obj is not None:
            cache_obj.close()
    doc_vectors = _numeric.normalize(doc_vectors)
    query_vectors = _numeric.normalize(np.asarray(query_vectors, dtype=np.float32))
    field, value = _filter_of(config, data.docs)
    metadata = [{**({"bucket": bucket(d.id)} if field == "bucket" else {}),
                 **({field: d.metadata[field]} if field and field != "bucket" and field in d.metadata else {})}
                for d in data.docs]
    flt = {field: value} if field else None
    exact = _exact(config.k, doc_vectors, query_vectors, data.docs, metadata, flt)
    filters = {} if flt is None else {"": {"filter": flt, "ids": exact["filtered_ids"], "count": exact["filtered_count"]}}
    return {"data": data, "docs": doc_vectors, "queries": query_vectors, "metadata": metadata, "exact": exact["ids"],
            "deep": exact["deep"], "filters": filters, "synthetic_filter": field == "bucket", "embedder": embedder,
            "embedding": {"model": embedder.name, "dim": int(doc_vectors.shape[1]), "documents_seconds": embed_docs_s,
                          "documents_embedded": report.embedded, "documents_from_cache": report.cache_hits,
                          "queries_seconds": embed_queries_s}}


def _prepare_synthetic(config: CompareConfig, log: Callable[[str], None]) -> dict[str, Any]:
    """A generated clustered workload (:mod:`.synthetic`): no model, no judgments, exact
    ground truth cached, filters at 1 % and 50 % selectivity."""
    from ..pipeline.cache import default_cache_dir

    spec = synthetic.parse(config.dataset)
    assert spec is not None
    log(f"generating {spec.n:,} clustered vectors (dim {spec.dim}) and {spec.queries} queries")
    start = time.perf_counter()
    doc_vectors, query_vectors = spec.vectors()
    generated = time.perf_counter()
    log("exact ground truth (cached after the first run)")
    truth = synthetic.ground_truth(spec, doc_vectors, query_vectors, config.k, default_cache_dir())
    data = Dataset([], {f"q{i}": "" for i in range(spec.queries)}, {})
    data.ids, data.texts = spec.ids(), None

    def named(rows: np.ndarray) -> list[list[str]]:
        return [[data.ids[j] for j in row] for row in rows]

    filters = {} if config.filter_field == "" else {
        label: {"filter": flt, "ids": named(truth[label]), "count": int(spec.mask(flt).sum())}
        for label, flt in synthetic.FILTERS.items()}
    return {"data": data, "docs": doc_vectors, "queries": query_vectors, "metadata": spec.metadata(),
            "exact": named(truth["all"]), "filters": filters, "synthetic_filter": True,
            "dataset": {"synthetic": dataclasses.asdict(spec), "generate_seconds": generated - start,
                        "ground_truth_seconds": time.perf_counter() - generated},
            "embedding": {"model": "none (synthetic vectors)", "dim": spec.dim, "documents_seconds": 0.0,
                          "documents_embedded": 0, "documents_from_cache": 0, "queries_seconds": 0.0}}


def _embed_in_batches(ingestor: Ingestor, texts: list[str], report: IngestReport, batch: int = 512) -> np.ndarray:
    from tqdm.auto import tqdm

    parts = []
    with tqdm(total=len(texts), unit="doc", desc="embed", dynamic_ncols=True) as bar:
        for start in range(0, len(texts), batch):
            part = texts[start : start + batch]
            parts.append(ingestor.embed(part, report))
            bar.update(len(part))
    return np.concatenate(parts) if parts else np.empty((0, ingestor.embedder.dim), np.float32)


def _exact(k: int, docs: np.ndarray, queries: np.ndarray, documents: list[Document], metadata: list[dict[str, Any]],
           flt: dict[str, Any] | None, deep_k: int = 100) -> dict[str, Any]:
    scores = _numeric.scores("cosine", queries, docs)
    ids = [d.id for d in documents]
    out: dict[str, Any] = {"ids": [], "deep": [], "filtered_ids": [], "filtered_count": 0}
    for row in scores:
        top = _numeric.topk(row, max(k, deep_k))
        out["ids"].append([ids[j] for j in top[:k]])
        out["deep"].append((top, row[top]))
    if flt is not None:
        (field, value), = flt.items()
        keep = np.array([m.get(field) == value for m in metadata])
        out["filtered_count"] = int(keep.sum())
        masked = np.where(keep[None, :], scores, -np.inf)
        for row in masked:
            best = [j for j in _numeric.topk(row, k) if np.isfinite(row[j])]
            out["filtered_ids"].append([ids[j] for j in best])
    return out


def write_results(results: dict[str, Any], out_dir: str | Path) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=1, default=str), encoding="utf-8")
    os.replace(tmp, path)
    return path


def compare_embedders(config: CompareConfig, data: Any, reference: Embedder, ref_docs: np.ndarray,
                      ref_queries: np.ndarray, log: Callable[[str], None], rounds: int = 3) -> tuple[list[dict[str, Any]], dict[str, dict[str, float]]]:
    """The reference embedder and each variant of ``config.embedders``, on exact cosine search:
    nDCG@10 (with judgments), recall of the reference's top-k, mean cosine to the reference's
    vectors (same model), and texts/s — timed on ``config.embedder_sample`` documents without the cache, the
    embedders taking turns for ``rounds`` rounds (median)."""
    k = config.k
    texts = [d.text for d in data.docs]
    doc_ids = [d.id for d in data.docs]
    loaded: list[tuple[str, Embedder, str]] = [("reference", reference, _variant_name(reference))]
    for spec in config.embedders:
        log(f"loading embedder {spec.label}")
        other = load_embedder(spec.model or config.model, **spec.options())
        loaded.append((spec.label, other, _variant_name(other)))
    timing = texts[: config.embedder_sample]
    seconds: dict[str, list[float]] = {label: [] for label, _, _ in loaded}
    for r in range(rounds):
        for label, emb, _ in (loaded if r % 2 == 0 else loaded[::-1]):
            start = time.perf_counter()
            emb.embed_documents(timing)
            seconds[label].append(time.perf_counter() - start)
    rows, tops = [], {}
    for label, emb, variant in loaded:
        if emb is reference:
            docs, queries = ref_docs, ref_queries
        else:
            log(f"embedding {len(texts)} documents with {label}")
            # no cache: an fp32 variant shares the reference's fingerprint, and must be judged on its own vectors
            ingestor = Ingestor(emb, None, None)
            docs = _numeric.normalize(_embed_in_batches(ingestor, texts, IngestReport(config.collection, emb.name)))
            queries = _numeric.normalize(np.asarray(emb.embed_queries(list(data.queries.values())), np.float32))
        scores = _numeric.scores("cosine", queries, docs)
        top = [_numeric.topk(row, max(k, 10)) for row in scores]
        tops[label] = [[doc_ids[j] for j in t[:k]] for t in top]
        row: dict[str, Any] = {
            "label": label, "model": emb.name, "variant": variant,
            "runtime": getattr(emb, "runtime", "torch"),
            "texts_per_s": len(timing) / statistics.median(seconds[label]),
            f"recall@{k}_vs_reference": metrics.recall_vs_exact(tops[label], tops["reference"], k),
            "mean_cosine_to_reference": (float(np.mean(np.sum(docs * ref_docs, axis=1)))
                                         if emb.name == reference.name and docs.shape == ref_docs.shape else None),
        }
        if data.qrels:
            run = {qid: {doc_ids[j]: float(scores[i, j]) for j in t}
                   for i, (qid, t) in enumerate(zip(data.queries, top))}
            row["ndcg@10"] = metrics.ndcg_at_k(run, data.qrels, 10)
        rows.append(row)
    ref_speed = rows[0]["texts_per_s"]
    for row in rows:
        row["speed_vs_reference"] = row["texts_per_s"] / ref_speed
    labels = [r["label"] for r in rows]
    overlap = {a: {b: metrics.overlap(tops[a], tops[b], k) for b in labels} for a in labels}
    return rows, overlap


def _variant_name(embedder: Embedder) -> str:
    return f"{getattr(embedder, 'runtime', 'torch')} {getattr(embedder, 'variant', 'fp32')}"
